-- One row per claim line, all seven FFS claim types: the claim files as landed (header fields repeated per line).
-- depends_on: {{ source('release', 'landed') }}
{% for claim_type, spelling in claim_types().items() %}
select
    '{{ claim_type }}' as claim_type,
    CLM_ID as clm_id,
    BENE_ID as bene_id,
    {{ spelling['line'] }} as line_num,
    CLM_FROM_DT as clm_from_dt,
    CLM_THRU_DT as clm_thru_dt,
    year,
    HCPCS_CD as hcpcs_cd,
    {{ spelling['line_paid'] }}::DECIMAL(14, 2) as line_paid_amt,
    {{ spelling['npi'] }} as provider_npi,
    CLM_PMT_AMT as clm_pmt_amt,
    PRNCPAL_DGNS_CD as prncpal_dgns_cd
from {{ landed(claim_type) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}

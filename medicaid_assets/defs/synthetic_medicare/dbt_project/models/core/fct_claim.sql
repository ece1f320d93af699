-- One row per claim across the seven types. Claim files repeat the header fields on every line, so lines are
-- deduplicated to CLM_ID here: counting or summing CLM_PMT_AMT over lines would multiply each claim by its lines.
select
    clm_id,
    any_value(claim_type) as claim_type,
    any_value(bene_id) as bene_id,
    min(clm_from_dt) as clm_from_dt,
    max(clm_thru_dt) as clm_thru_dt,
    any_value(year) as year,
    any_value(clm_pmt_amt) as clm_pmt_amt,
    any_value(prncpal_dgns_cd) as prncpal_dgns_cd,
    any_value(provider_npi) as provider_npi,
    count(*) as line_count,
    -- a diagnosis of diabetes (ICD-10 E08-E13) on the claim: the chronic-condition worked example
    bool_or(regexp_matches(coalesce(prncpal_dgns_cd, ''), '^E(0[89]|1[0-3])')) as diabetes_dx
from {{ ref('fct_claim_line') }}
group by clm_id

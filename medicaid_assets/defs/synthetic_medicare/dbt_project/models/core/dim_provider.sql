-- One row per provider NPI seen on claims, with its volume; named from the shared NPPES provider table
-- (main.nppes_providers, the reference family) when that table is present.
{% set nppes = nppes_providers_relation() %}
with seen as (
    select
        provider_npi,
        count(*) as claims,
        count(distinct bene_id) as beneficiaries,
        sum(clm_pmt_amt) as paid_amt,
        mode(claim_type) as main_claim_type
    from {{ ref('fct_claim') }}
    where provider_npi is not null
    group by provider_npi
)
select
    seen.*,
{% if nppes %}
    nppes.provider_name,
    nppes.entity_type,
    nppes.npi is not null as in_nppes
from seen
left join {{ nppes }} as nppes on nppes.npi = seen.provider_npi
{% else %}
    null::VARCHAR as provider_name,
    null::VARCHAR as entity_type,
    false as in_nppes
from seen
{% endif %}

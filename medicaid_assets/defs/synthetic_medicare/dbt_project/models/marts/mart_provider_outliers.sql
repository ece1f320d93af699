-- SCREENING DEMO ON SYNTHETIC DATA, not a finding about any real provider. Providers with at least 10 claims whose
-- claim volume or paid per claim is at least 3x the median of their claim type's providers, with fraud-style
-- indicators (lines per claim, claims per beneficiary); below 10 claims a ratio says nothing (3 claims vs 1). Synthea's claim mix differs from reality (carrier ~13% of claims vs ~31% in real
-- Medicare; SNF ~104 lines per claim vs ~8), so peer medians here do not transfer to real claims.
with per_provider as (
    select
        claim_type,
        provider_npi,
        count(*) as claims,
        count(distinct bene_id) as beneficiaries,
        sum(clm_pmt_amt) as paid_amt,
        sum(clm_pmt_amt) / count(*) as paid_per_claim,
        avg(line_count) as lines_per_claim
    from {{ ref('fct_claim') }}
    where provider_npi is not null
    group by all
),
peers as (
    select
        *,
        median(claims) over (partition by claim_type) as peer_median_claims,
        median(paid_per_claim) over (partition by claim_type) as peer_median_paid_per_claim
    from per_provider
)
select
    claim_type,
    provider_npi,
    claims,
    beneficiaries,
    paid_amt,
    round(paid_per_claim, 2) as paid_per_claim,
    round(lines_per_claim, 2) as lines_per_claim,
    round(claims / beneficiaries, 2) as claims_per_beneficiary,
    round(claims / peer_median_claims, 2) as volume_ratio,
    round(paid_per_claim / nullif(peer_median_paid_per_claim, 0), 2) as cost_ratio,
    claims >= 10
        and (claims >= 3 * peer_median_claims or paid_per_claim >= 3 * peer_median_paid_per_claim) as screening_flag
from peers

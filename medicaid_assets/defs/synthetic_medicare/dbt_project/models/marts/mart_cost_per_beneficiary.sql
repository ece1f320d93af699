-- Medicare paid per beneficiary by service category (claim type, plus Part D) and Census region, per year.
-- Claims are deduplicated to CLM_ID before summing CLM_PMT_AMT.
with enrolled as (
    select year, region, count(*) as beneficiaries from {{ ref('dim_beneficiary') }} group by all
),
bene as (
    select bene_id, year, region from {{ ref('dim_beneficiary') }}
),
paid as (
    select claim.claim_type as category, bene.region, claim.year, sum(claim.clm_pmt_amt) as paid_amt
    from {{ ref('fct_claim') }} as claim
    join bene on bene.bene_id = claim.bene_id and bene.year = claim.year
    group by all
    union all
    select 'part_d' as category, bene.region, rx.year, sum(rx.total_cost_amt) as paid_amt
    from {{ ref('fct_prescription') }} as rx
    join bene on bene.bene_id = rx.bene_id and bene.year = rx.year
    group by all
)
select
    paid.category,
    paid.region,
    paid.year,
    paid.paid_amt,
    enrolled.beneficiaries,
    round(paid.paid_amt / enrolled.beneficiaries, 2) as cost_per_beneficiary
from paid
join enrolled using (year, region)

-- The chronic-condition worked example: beneficiaries with a diabetes diagnosis (ICD-10 E08-E13 on a claim that
-- year) against those without: prevalence, claims per 1,000, and FFS paid per beneficiary.
with claims as (
    select bene_id, year, count(*) as claims, sum(clm_pmt_amt) as paid_amt
    from {{ ref('fct_claim') }}
    group by all
),
per_bene as (
    select bene.year, bene.has_diabetes, coalesce(claims.claims, 0) as claims, coalesce(claims.paid_amt, 0) as paid_amt
    from {{ ref('dim_beneficiary') }} as bene
    left join claims on claims.bene_id = bene.bene_id and claims.year = bene.year
)
select
    year,
    has_diabetes,
    count(*) as beneficiaries,
    round(count(*) / sum(count(*)) over (partition by year), 4) as prevalence,
    round(1000.0 * sum(claims) / count(*), 1) as claims_per_1000,
    round(sum(paid_amt) / count(*), 2) as paid_per_beneficiary
from per_bene
group by year, has_diabetes

-- Claims per 1,000 beneficiaries by claim type and month (claims counted once per CLM_ID, by through date;
-- the denominator is the beneficiaries enrolled in that year).
with enrolled as (
    select year, count(*) as beneficiaries from {{ ref('dim_beneficiary') }} group by year
),
claims as (
    select claim_type, date_trunc('month', clm_thru_dt)::DATE as month, year, count(*) as claims
    from {{ ref('fct_claim') }}
    group by all
)
select
    claims.claim_type,
    claims.month,
    claims.claims,
    enrolled.beneficiaries,
    round(1000.0 * claims.claims / enrolled.beneficiaries, 2) as claims_per_1000
from claims
join enrolled using (year)

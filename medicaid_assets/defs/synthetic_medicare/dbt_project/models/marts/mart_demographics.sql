-- Beneficiaries by year and state: count, mean age, share female (SEX_IDENT_CD 2), share aged 85+.
select
    year,
    coalesce(state, 'SSA ' || state_code) as state,
    region,
    count(*) as beneficiaries,
    round(avg(age), 1) as mean_age,
    round(avg(case when sex_cd = '2' then 1.0 else 0.0 end), 4) as female_share,
    round(avg(case when age >= 85 then 1.0 else 0.0 end), 4) as aged_85_plus_share
from {{ ref('dim_beneficiary') }}
group by all

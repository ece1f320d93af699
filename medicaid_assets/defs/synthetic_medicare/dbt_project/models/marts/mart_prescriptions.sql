-- Part D volume and cost by drug (NDC) and brand vs generic (BRND_GNRC_CD: B brand, G generic), per year.
select
    year,
    ndc,
    case brand_generic_cd when 'B' then 'brand' when 'G' then 'generic' else 'unknown' end as brand_generic,
    count(*) as fills,
    count(distinct bene_id) as beneficiaries,
    sum(days_supply) as days_supply,
    sum(total_cost_amt) as total_cost_amt,
    round(sum(total_cost_amt) / count(*), 2) as cost_per_fill
from {{ ref('fct_prescription') }}
group by all

-- One row per beneficiary and year: demographics, geography (SSA state code, county, ZIP as text with their
-- leading zeros), and chronic-condition flags derived from the year's claims (the release has no CCW flags).
-- depends_on: {{ source('release', 'landed') }}
with bene as (
    select
        BENE_ID as bene_id,
        year,
        STATE_CODE as state_code,
        COUNTY_CD as county_cd,
        ZIP_CD as zip_cd,
        BENE_BIRTH_DT as birth_dt,
        BENE_DEATH_DT as death_dt,
        SEX_IDENT_CD as sex_cd,
        BENE_RACE_CD as race_cd,
        AGE_AT_END_REF_YR as age
    from {{ landed('beneficiary') }}
    qualify row_number() over (partition by BENE_ID, year order by BENE_ID) = 1
),
conditions as (
    select bene_id, year, bool_or(diabetes_dx) as has_diabetes
    from {{ ref('fct_claim') }}
    group by bene_id, year
)
select
    bene.*,
    bene.bene_id::VARCHAR || '-' || bene.year::VARCHAR as bene_year_key,
    states.state,
    coalesce(states.region, 'Unknown') as region,
    coalesce(conditions.has_diabetes, false) as has_diabetes
from bene
left join {{ ref('ssa_state_codes') }} as states on states.ssa_state_code = bene.state_code
left join conditions on conditions.bene_id = bene.bene_id and conditions.year = bene.year

-- One row per Part D event (PDE_ID).
-- depends_on: {{ source('release', 'landed') }}
select
    PDE_ID as pde_id,
    BENE_ID as bene_id,
    SRVC_DT as srvc_dt,
    year,
    PROD_SRVC_ID as ndc,
    BRND_GNRC_CD as brand_generic_cd,
    PRSCRBR_ID as prescriber_id,
    QTY_DSPNSD_NUM as quantity,
    DAYS_SUPLY_NUM as days_supply,
    TOT_RX_CST_AMT as total_cost_amt,
    PTNT_PAY_AMT as patient_pay_amt
from {{ landed('pde') }}

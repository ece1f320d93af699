"""The NPPES family: monthly and weekly bundles, the provider tables, the weekly sensor and monthly schedule."""

import dagster as dg

from medicaid_assets.defs.nppes import assets
from medicaid_assets.defs.nppes.schedules import nppes_monthly_job, nppes_monthly_schedule
from medicaid_assets.defs.nppes.sensors import nppes_weekly_job, nppes_weekly_sensor


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([assets]),
        sensors=[nppes_weekly_sensor],
        schedules=[nppes_monthly_schedule],
        jobs=[nppes_weekly_job, nppes_monthly_job],
    )

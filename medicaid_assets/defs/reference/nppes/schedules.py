"""The weekly look for a new monthly NPPES bundle, and the provider-table rebuild it triggers."""

import dagster as dg

from medicaid_assets.defs.reference.nppes.keys import MONTHLY_BUNDLE, PROVIDERS

nppes_monthly_job = dg.define_asset_job(
    "nppes_monthly_job",
    selection=dg.AssetSelection.assets(MONTHLY_BUNDLE, PROVIDERS),
    description="Fetch the newest monthly NPPES bundle (only the files page when it is already here) and rebuild "
    "the provider tables from it when it is new.",
)

nppes_monthly_schedule = dg.ScheduleDefinition(
    name="nppes_monthly_schedule",
    job=nppes_monthly_job,
    cron_schedule="0 6 * * 1",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Mondays 06:00 New York: CMS posts the monthly file on no fixed day, so look weekly; an unchanged "
    "bundle costs one page request and rewrites nothing.",
)

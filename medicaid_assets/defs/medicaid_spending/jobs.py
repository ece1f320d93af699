"""The family's whole chain as one job, and the monthly schedule that runs it."""

import dagster as dg

from medicaid_assets.defs.medicaid_spending.keys import GROUP, monthly_partitions
from medicaid_assets.defs.publish.keys import STORAGE_GROUP
from medicaid_assets.defs.reference.code_sets.keys import GROUP as CODE_SETS
from medicaid_assets.defs.reference.nppes.keys import GROUP as NPPES
from medicaid_assets.defs.reference.nppes.keys import WEEKLY_BUNDLE, WEEKLY_UPDATE
from medicaid_assets.defs.reference.resolution.keys import GROUP as RESOLUTION
from medicaid_assets.defs.reference.resolution.keys import OUTPUTS_GROUP

main_job = dg.define_asset_job(
    "medicaid_pipeline",
    # Weekly NPPES bundles are dynamic partitions with their own job and sensor; publishing is opt-in (job `publish`).
    selection=dg.AssetSelection.groups(GROUP, NPPES, CODE_SETS, RESOLUTION, OUTPUTS_GROUP, STORAGE_GROUP)
    - dg.AssetSelection.assets(WEEKLY_BUNDLE, WEEKLY_UPDATE),
    description="The whole chain: sources → warehouse tables → resolution → outputs.",
)

# Every spending month in one run (the table's backfill policy is single-run), as the demo and CLI run it.
FULL_REFRESH_TAGS = {
    "dagster/asset_partition_range_start": monthly_partitions.get_first_partition_key(),
    "dagster/asset_partition_range_end": monthly_partitions.get_last_partition_key(),
}


@dg.schedule(
    job=main_job,
    cron_schedule="0 7 15 * *",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="The 15th of each month, 07:00 New York: the whole chain over every spending month in one run. "
    "Unchanged source files are not downloaded again and the lookups ask only what the caches lack, so a quiet "
    "month costs little. Stopped until someone turns it on.",
)
def medicaid_pipeline_schedule() -> dg.RunRequest:
    return dg.RunRequest(tags=FULL_REFRESH_TAGS)

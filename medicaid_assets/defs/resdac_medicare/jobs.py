"""The family as one job: every family × year partition of the raw tables, then the model, QC and export."""

import dagster as dg

from medicaid_assets.defs.resdac_medicare.keys import GROUP, partitions

resdac_job = dg.define_asset_job(
    "resdac_medicare",
    selection=dg.AssetSelection.groups(GROUP),
    description="ResDAC delivery → raw tables → beneficiaries, enrollments, admissions + audit → QC → PostgreSQL.",
)

# Every family × year in one run (the raw asset's backfill policy is single-run); files already loaded are skipped.
FULL_REFRESH_TAGS = {
    "dagster/asset_partition_range_start": partitions.get_first_partition_key(),
    "dagster/asset_partition_range_end": partitions.get_last_partition_key(),
}

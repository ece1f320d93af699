"""The family as one job: download, land every file type, build the models and marts."""

import dagster as dg

from medicaid_assets.defs.synthetic_medicare.keys import GROUP, file_type_partitions

synthetic_medicare_job = dg.define_asset_job(
    "synthetic_medicare",
    selection=dg.AssetSelection.groups(GROUP),
    description="The CMS synthetic Medicare release: downloads → parquet per file type × year → dbt models → marts.",
)

# Every file type in one run (the landing's backfill policy is single-run), as the demo and the schedule run it.
ALL_FILE_TYPES_TAGS = {
    "dagster/asset_partition_range_start": file_type_partitions.get_first_partition_key(),
    "dagster/asset_partition_range_end": file_type_partitions.get_last_partition_key(),
}

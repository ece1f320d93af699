"""The family's job: every benchmark from the stored fee schedules, then the Iceberg tables."""

import dagster as dg

from medicaid_assets.defs.rates_warehouse.keys import GROUP
from medicaid_assets.defs.reference.fee_schedules import keys as fee_schedules

rates_warehouse_job = dg.define_asset_job(
    "rates_warehouse_job",
    # The multiplier states' maximums are unpartitioned and read every stored OPPS release, like the benchmarks.
    selection=dg.AssetSelection.groups(GROUP) | dg.AssetSelection.assets(fee_schedules.WC_MULTIPLIER_MAXIMUMS),
    description="Build the Medicare OPPS/ASC and workers'-comp benchmarks from the fee schedules stored so far "
    "(and the maximums of states that set them as multiples of Medicare), then write them as Iceberg tables.",
)

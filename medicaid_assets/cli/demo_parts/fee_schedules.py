"""The physician fee schedule's part of the demo: the PFS release sensor evaluated once, as the daemon would, and one
run of its job per release it finds (the sample world's page lists two quarters)."""

from __future__ import annotations

import dagster as dg
import duckdb
from rich.console import Console
from rich.table import Table

from medicaid_assets.cli.demo_parts import DemoPart
from medicaid_assets.cli.runner import Runner
from medicaid_assets.defs.reference.fee_schedules.keys import PFS_AMOUNTS, PFS_STATE_AMOUNTS, pfs_release_partitions
from medicaid_assets.defs.reference.fee_schedules.pfs_sensors import pfs_release_job, pfs_release_sensor
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings


def apply_new_releases(runner: Runner) -> bool:
    """Evaluate the sensor once and run every release partition not materialized yet."""
    resources = {k: v for k, v in runner.defs.resources.items() if k in ("files", "sources")}
    outcome = pfs_release_sensor(dg.build_sensor_context(instance=runner.instance, resources=resources))
    if isinstance(outcome, dg.SensorResult):
        for request in outcome.dynamic_partitions_requests or []:
            runner.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    done = runner.instance.get_materialized_partitions(PFS_STATE_AMOUNTS)
    pending = [k for k in runner.instance.get_dynamic_partitions(pfs_release_partitions.name) if k not in done]
    return all(runner.run(pfs_release_job.name, partition_key=key) for key in sorted(pending))


def summary(runner: Runner, settings: Settings, console: Console) -> None:
    """Rows per release and 99213's Alabama amount, read back from the stored tables."""
    table = Table(title="physician fee schedule")
    for column in ("release", "pfs_amounts rows", "99213 AL non-facility", "stored at"):
        table.add_column(column)
    for key in sorted(runner.instance.get_materialized_partitions(PFS_AMOUNTS)):
        records = runner.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=PFS_AMOUNTS, asset_partitions=[key]), limit=1
        ).records
        metadata = records[0].asset_materialization.metadata if records else {}
        uri = metadata["uri"].value if "uri" in metadata else ""
        rows = metadata["dagster/row_count"].value if "dagster/row_count" in metadata else ""
        amount = ""
        if uri.endswith(".parquet"):
            found = duckdb.sql(
                f"SELECT non_facility_amount FROM read_parquet('{uri}') WHERE hcpcs_code = '99213' AND modifier = '' "
                "AND carrier = '10112' AND locality = '00'"
            ).fetchone()
            amount = f"${found[0]}" if found else ""
        table.add_row(key, f"{rows:,}" if rows != "" else "", amount, uri)
    console.print(table)


PART = DemoPart(
    name="fee_schedules",
    order=5,
    generate=generate_world,
    steps=(("new PFS releases on the CMS page, as the sensor sees them: one run each", apply_new_releases),),
    summary=summary,
)

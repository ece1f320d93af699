"""The rates warehouse's part of the demo: the OPPS and ASC releases as their sensors find them on the CMS pages,
the two workers'-comp states, then the benchmarks and their Iceberg tables; then the star schema, the tiles of a few
price-transparency files (read by the price-transparency part before this one) and the four-payer comparison."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
from rich.console import Console
from rich.table import Table

from medicaid_assets.cli.demo_parts import DemoPart
from medicaid_assets.cli.runner import Runner
from medicaid_assets.dagster_kit.iceberg import iceberg_from_settings
from medicaid_assets.defs.price_transparency.keys import FILE_PARTITIONS
from medicaid_assets.defs.rates_warehouse.jobs import (
    code_price_comparison_job,
    fact_rate_job,
    rates_dimensions_job,
    rates_star_job,
    rates_warehouse_job,
)
from medicaid_assets.defs.rates_warehouse.keys import ICEBERG_BENCH_ASC, ICEBERG_BENCH_OPPS, ICEBERG_BENCH_WC
from medicaid_assets.defs.rates_warehouse.resources import tiles_from_settings
from medicaid_assets.defs.rates_warehouse.tiles import TILE_NAME
from medicaid_assets.defs.reference.fee_schedules.asc_assets import asc_release_job, asc_release_sensor
from medicaid_assets.defs.reference.fee_schedules.keys import wc_states
from medicaid_assets.defs.reference.fee_schedules.opps_assets import opps_release_job, opps_release_sensor
from medicaid_assets.defs.reference.fee_schedules.workers_comp.assets import wc_job
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings


def load_fee_schedules(runner: Runner) -> bool:
    """Each release sensor once, as the daemon would tick it; one run per release it finds; one run per state."""
    resources = {k: v for k, v in runner.defs.resources.items() if k in ("files", "sources")}
    ok = True
    for sensor, job in ((opps_release_sensor, opps_release_job), (asc_release_sensor, asc_release_job)):
        outcome = sensor(dg.build_sensor_context(instance=runner.instance, resources=resources))
        if not isinstance(outcome, dg.SensorResult):
            continue
        for request in outcome.dynamic_partitions_requests or []:
            runner.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        for run in outcome.run_requests or []:
            ok = runner.run(job.name, partition_key=run.partition_key) and ok
    for state in wc_states.get_partition_keys():
        ok = runner.run(wc_job.name, partition_key=state) and ok
    return ok


DEMO_FILES = 2  # fact_rate and tiles for this many price-transparency files: enough to show, quick to run


def facts_and_tiles(runner: Runner) -> bool:
    """fact_rate and its tiles for the first few file partitions the price-transparency part read."""
    keys = sorted(runner.instance.get_dynamic_partitions(FILE_PARTITIONS))[:DEMO_FILES]
    return bool(keys) and all([runner.run(fact_rate_job.name, partition_key=key) for key in keys])


def summary(runner: Runner, settings: Settings, console: Console) -> None:
    """Rows per Iceberg table (read back by DuckDB), where the tables are, and the tiles' state partitions."""
    iceberg = iceberg_from_settings(settings)
    table = Table(title="rates warehouse: benchmarks and facts (Iceberg, read by DuckDB)")
    for column in ("table", "rows", "codes", "states"):
        table.add_column(column, justify="right" if column != "table" else "left")
    try:
        with iceberg.duckdb() as conn:
            for name in (ICEBERG_BENCH_OPPS, ICEBERG_BENCH_ASC, ICEBERG_BENCH_WC, "fact_rate"):
                frame: pl.DataFrame = conn.sql(f"SELECT state, code FROM {iceberg.scan_sql(name)}").pl()
                table.add_row(
                    name, f"{frame.height:,}", f"{frame['code'].n_unique():,}", f"{frame['state'].n_unique()}"
                )
            for name in ("dim_npi", "dim_payer", "dim_provider_group", "xref_pg_member_npi"):
                (rows,) = conn.sql(f"SELECT count(*) FROM {iceberg.scan_sql(name)}").fetchone()
                table.add_row(name, f"{rows:,}", "", "")
    except Exception as exc:  # a failed run leaves no table: say so instead of failing the summary
        console.print(f"  Iceberg tables not readable: {type(exc).__name__}: {exc}")
        return
    console.print(table)
    console.print(f"  {'Iceberg catalog':18s} {iceberg.catalog_uri}")
    console.print(f"  {'Iceberg warehouse':18s} {iceberg.warehouse}")
    tiles = tiles_from_settings(settings)
    if not tiles.is_remote:
        root = Path(tiles.location(TILE_NAME))
        files = list(root.rglob("*.parquet"))
        states = sorted({p.relative_to(root).parts[1] for p in files})
        console.print(f"  {'tiles':18s} {len(files)} parquet files under {root} ({', '.join(states)})")


PART = DemoPart(
    name="rates_warehouse",
    order=30,
    generate=generate_world,
    steps=(
        ("OPPS/ASC releases found by their sensors, and the GA and NC workers'-comp schedules", load_fee_schedules),
        (
            f"job '{rates_warehouse_job.name}': Medicare and workers'-comp benchmarks → Iceberg tables",
            lambda runner: runner.run(rates_warehouse_job.name),
        ),
        (
            f"job '{rates_dimensions_job.name}': dim_code, dim_npi, dim_npi_address from the reference tables",
            lambda runner: runner.run(rates_dimensions_job.name),
        ),
        (
            f"job '{rates_star_job.name}': bench_medicare_professional and the star schema's dimensions",
            lambda runner: runner.run(rates_star_job.name),
        ),
        (f"job '{fact_rate_job.name}': fact_rate and its tiles for {DEMO_FILES} files", facts_and_tiles),
        (
            f"job '{code_price_comparison_job.name}': one price, four payers",
            lambda runner: runner.run(code_price_comparison_job.name),
        ),
    ),
    summary=summary,
)

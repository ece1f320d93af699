"""Price transparency's part of the demo: the sample payers' tables of contents, then each in-network file they
list (json, json.gz, zip; remote references, some missing) read into rates, organizations, providers, files."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import duckdb
from rich.console import Console
from rich.table import Table

from medicaid_assets.cli.demo_parts import DemoPart
from medicaid_assets.cli.runner import Runner
from medicaid_assets.defs.price_transparency.jobs import files_job, quality_job, toc_job
from medicaid_assets.defs.price_transparency.keys import FILE_PARTITIONS, PAYER_PARTITIONS, SCHEMA
from medicaid_assets.defs.price_transparency.resources import PriceTransparencyResource
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.price_transparency import PAYERS, world_catalog
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings


def _world_runner(runner: Runner) -> Runner:
    """The runner's definitions with the payer catalog of the world it runs against (loopback allowed)."""
    spending = urlsplit(runner.defs.resources["sources"].spending_url)
    data_dir = Path(runner.defs.resources["data"].data_dir)
    catalog = world_catalog(f"{spending.scheme}://{spending.netloc}", data_dir / "price_transparency" / "payers.yaml")
    defs = runner.defs
    resources = {
        **defs.resources,
        "price_transparency": PriceTransparencyResource(catalog_path=str(catalog), allow_private_urls=True),
    }
    world = Runner(
        dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=resources),
        runner.instance,
    )
    world.results = runner.results  # the demo's summary sees these runs too
    return world


def read_payers(runner: Runner) -> bool:
    world = _world_runner(runner)
    runner.instance.add_dynamic_partitions(PAYER_PARTITIONS, list(PAYERS))
    ok = all([world.run(toc_job.name, partition_key=payer) for payer in PAYERS])
    keys = runner.instance.get_dynamic_partitions(FILE_PARTITIONS)
    results = [world.run(files_job.name, partition_key=key) for key in keys]
    return ok and all(results) and world.run(quality_job.name)


def summary(runner: Runner, settings: Settings, console: Console) -> None:
    base = Path(settings.io_manager_base or DataLayout(settings.data_dir).assets)
    files = base / SCHEMA / "files"
    if settings.io_manager != "parquet" or not files.is_dir():
        console.print(f"price transparency: tables in the warehouse schema `{SCHEMA}` ({settings.warehouse_path})")
        return
    rows = duckdb.sql(
        f"SELECT payer, container, items, rate_rows, remote_references, remote_failed, "
        f"round(share_unresolved_provider, 3) FROM read_parquet('{files.as_posix()}/*.parquet') ORDER BY payer"
    ).fetchall()
    table = Table(title="price-transparency files read")
    for column in ("payer", "container", "items", "rate rows", "remote refs", "refs failed", "unresolved"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    console.print(table)
    for name in ("rates", "organizations", "providers", "files", "payer_toc"):
        console.print(f"  {name:14s} {base / SCHEMA / name}/")


PART = DemoPart(
    name="price_transparency",
    order=30,
    generate=generate_world,  # the world generator writes every family's files, these included
    steps=(
        (
            "price transparency: 5 sample payers' ToCs, then each in-network file they list, then quality per payer",
            read_payers,
        ),
    ),
    summary=summary,
)

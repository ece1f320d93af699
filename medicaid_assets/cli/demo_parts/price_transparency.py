"""Price transparency's part of the demo: the sample payers' tables of contents, then each in-network file they
list (json, json.gz, zip; remote references, some missing) read into rates, organizations, providers, files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from medicaid_assets.cli.demo_parts import DemoPart
from medicaid_assets.cli.runner import Runner
from medicaid_assets.defs.price_transparency.jobs import files_job, quality_job, toc_job
from medicaid_assets.defs.price_transparency.keys import (
    FILE_PARTITIONS,
    PAYER_PARTITIONS,
    SCHEMA,
    TOC_PARTITIONS,
    toc_partition_key,
)
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.price_transparency import PAYERS
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings


def read_payers(runner: Runner) -> bool:
    """Every sample payer's ToC of this month (the sample ToCs carry no date), then one run per in-network file
    they list, then quality. The payer catalog is the world's (settings from ``sample_world.urls.world_env``)."""
    month = datetime.now(UTC).strftime("%Y-%m")
    tocs = [toc_partition_key(payer, month) for payer in PAYERS]
    runner.instance.add_dynamic_partitions(PAYER_PARTITIONS, list(PAYERS))  # as the ToC sensor does
    runner.instance.add_dynamic_partitions(TOC_PARTITIONS, tocs)
    ok = all([runner.run(toc_job.name, partition_key=key) for key in tocs])
    keys = runner.instance.get_dynamic_partitions(FILE_PARTITIONS)
    results = [runner.run(files_job.name, partition_key=key) for key in keys]
    return ok and all(results) and runner.run(quality_job.name)


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
            "price transparency: 5 sample payers' ToCs of this month, then each in-network file they list, then quality "
            "per payer",
            read_payers,
        ),
    ),
    summary=summary,
)

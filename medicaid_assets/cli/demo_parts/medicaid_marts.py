"""The Medicaid analysis marts' part of the demo: every spending month enriched in one run (after the spending part
built the tables it reads), and the weekly NPPES bundles carried into the mart."""

from __future__ import annotations

import duckdb
from rich.console import Console
from rich.table import Table

from medicaid_assets.cli.demo_parts import DemoPart
from medicaid_assets.cli.runner import Runner, full_range_tags
from medicaid_assets.defs.medicaid_spending.keys import MARTS_SCHEMA
from medicaid_assets.defs.medicaid_spending.marts import marts_job
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings


def summary(runner: Runner, settings: Settings, console: Console) -> None:
    """Rows of every mart table, read back from the warehouse."""
    if not settings.warehouse_path.is_file():
        return
    table = Table(title=f"Medicaid marts (DuckDB schema {MARTS_SCHEMA}, {settings.warehouse_path})")
    table.add_column("table")
    table.add_column("rows", justify="right")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        names = conn.execute(
            "SELECT table_name, estimated_size FROM duckdb_tables() WHERE schema_name = ? ORDER BY 1", [MARTS_SCHEMA]
        ).fetchall()
        for name, _ in names:
            rows = conn.execute(f'SELECT count(*) FROM {MARTS_SCHEMA}."{name}"').fetchone()[0]
            table.add_row(name, f"{rows:,}")
    console.print(table)


PART = DemoPart(
    name="medicaid_marts",
    order=20,
    generate=generate_world,
    steps=(
        (
            f"job '{marts_job.name}': every month enriched with providers, taxonomies and codes",
            lambda runner: runner.run(marts_job.name, tags=full_range_tags()),
        ),
    ),
    summary=summary,
)

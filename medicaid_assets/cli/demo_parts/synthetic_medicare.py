"""The synthetic Medicare release's part of the demo: its three downloads from the sample world, landed per file
type × year, then the dbt models and marts (dbt tests as checks)."""

from __future__ import annotations

import duckdb
from rich.console import Console
from rich.table import Table

from medicaid_assets.cli.demo_parts import DemoPart
from medicaid_assets.cli.runner import Runner
from medicaid_assets.defs.synthetic_medicare.jobs import ALL_FILE_TYPES_TAGS, synthetic_medicare_job
from medicaid_assets.defs.synthetic_medicare.keys import SCHEMA
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings


def summary(runner: Runner, settings: Settings, console: Console) -> None:
    """Rows per model, the providers the screening demo flags, and where the outputs are."""
    layout = DataLayout(settings.data_dir)
    if not settings.warehouse_path.is_file():
        console.print("synthetic Medicare: no warehouse (the runs did not get that far)")
        return
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_name, estimated_size FROM duckdb_tables() WHERE schema_name = ? ORDER BY table_name", [SCHEMA]
        ).fetchall()
        flagged = (
            conn.execute(
                f"SELECT provider_npi, claim_type FROM {SCHEMA}.mart_provider_outliers WHERE screening_flag"
            ).fetchall()
            if any(name == "mart_provider_outliers" for name, _ in tables)
            else []
        )
        counts = {name: conn.execute(f"SELECT count(*) FROM {SCHEMA}.{name}").fetchone()[0] for name, _ in tables}
    table = Table(title="synthetic Medicare models (dbt)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in counts.items():
        table.add_row(f"{SCHEMA}.{name}", f"{rows:,}")
    console.print(table)
    console.print(
        "screening demo (synthetic data) flags: " + (", ".join(f"{npi} ({kind})" for npi, kind in flagged) or "none")
    )
    console.print(f"  {'landed parquet':18s} {layout.synthetic_medicare_landed}")
    console.print(f"  {'downloads':18s} {layout.synthetic_medicare_raw}")


PART = DemoPart(
    name="synthetic_medicare",
    order=40,
    generate=generate_world,
    steps=(
        (
            f"job '{synthetic_medicare_job.name}': release downloads → parquet per file type × year → dbt models",
            lambda runner: runner.run(synthetic_medicare_job.name, tags=ALL_FILE_TYPES_TAGS),
        ),
    ),
    summary=summary,
)

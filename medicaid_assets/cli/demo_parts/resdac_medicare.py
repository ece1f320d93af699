"""ResDAC Medicare's part of the demo: the generated delivery is received into the input folder (as ResDAC's secure
transfer would leave it), then the family's job loads it, builds the model and QC, and exports when configured."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from medicaid_assets.cli.demo_parts import DemoPart
from medicaid_assets.cli.runner import Runner
from medicaid_assets.defs.resdac_medicare.jobs import FULL_REFRESH_TAGS, resdac_job
from medicaid_assets.defs.resdac_medicare.keys import SCHEMA, TABLES
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings

WORLD_FOLDER = "resdac"  # under the world's files/: ResDAC deliveries are files on disk, not served over HTTP


def receive_delivery(runner: Runner) -> int:
    """Copy the world's delivery into the input folder; files already there unchanged are left alone (the raw
    step then skips them). Returns how many files were copied."""
    data_dir = Path(runner.defs.resources["data"].data_dir)
    source = data_dir / "sample_world" / "files" / WORLD_FOLDER
    target = Path(runner.defs.resources["resdac_delivery"].input_dir)
    copied = 0
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        dest = target / path.relative_to(source)
        if (
            dest.is_file()
            and dest.stat().st_size == path.stat().st_size
            and dest.stat().st_mtime == path.stat().st_mtime
        ):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        copied += 1
    return copied


def summary(runner: Runner, settings: Settings, console: Console) -> None:
    """Rows per table, the audit by reason, and where the tables are."""
    if not settings.warehouse_path.is_file():
        return
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        present = {
            r[0]
            for r in conn.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [SCHEMA]).fetchall()
        }
        if "admissions_audit" not in present:
            return
        table = Table(title="ResDAC Medicare")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name in ("raw_loads", *TABLES):
            table.add_row(
                f"{SCHEMA}.{name}", f"{conn.execute(f'SELECT count(*) FROM {SCHEMA}.{name}').fetchone()[0]:,}"
            )
        reasons = conn.execute(
            f"SELECT reason, count(*) FROM {SCHEMA}.admissions_audit GROUP BY ALL ORDER BY 1"
        ).fetchall()
    console.print(table)
    console.print("admissions audit: " + ", ".join(f"{reason} {n:,}" for reason, n in reasons))
    console.print(f"  tables in schema {SCHEMA} of {settings.warehouse_path}")


PART = DemoPart(
    name="resdac_medicare",
    order=40,
    generate=generate_world,
    steps=(
        ("receive the ResDAC delivery (FTS + .dat pairs, SAS transport files) into the input folder", receive_delivery),
        (
            f"job '{resdac_job.name}': raw tables → beneficiaries, enrollments, admissions + audit → QC",
            lambda runner: runner.run(resdac_job.name, tags=FULL_REFRESH_TAGS),
        ),
    ),
    summary=summary,
)

"""Medicaid Provider Spending's part of the demo (with the reference data it builds: NPPES, code sets, resolution):
the main job over every spending month, then the weekly NPPES bundles as the sensor sees them."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from medicaid_assets.cli.demo_parts import DemoPart
from medicaid_assets.cli.runner import Runner, full_range_tags
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.reference.resolution import hcpcs_cache, npi_cache
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import Settings


def summary(runner: Runner, settings: Settings, console: Console) -> None:
    """Identifiers per status, requests made, and where each output is."""
    layout = DataLayout(settings.data_dir)
    requests = 0
    for result in runner.results:
        for event in result.get_asset_materialization_events():
            value = event.materialization.metadata.get("requests")
            requests += int(value.value) if value is not None else 0
    table = Table(title="identifiers")
    table.add_column("type")
    for status in ("ok", "not_found", "error", "invalid"):
        table.add_column(status, justify="right")
    if layout.npi_cache.is_file():
        with npi_cache.NpiCache(layout.npi_cache) as cache:
            counts = cache.status_counts()
        table.add_row("npi", *(f"{counts.get(s, 0):,}" for s in ("ok", "not_found", "error", "invalid")))
    if layout.hcpcs_cache.is_file():
        with hcpcs_cache.HcpcsCache(layout.hcpcs_cache) as cache:
            counts = cache.status_counts()
        table.add_row("hcpcs", *(f"{counts.get(s, 0):,}" for s in ("ok", "not_found", "error")), "-")
    console.print(table)
    console.print(f"API requests made by these runs: {requests:,}")
    for label, path in (
        ("spending table", settings.warehouse_path),
        ("NPI mapping", layout.npi_mapping),
        ("HCPCS mapping", layout.hcpcs_mapping),
        ("npi dataset", layout.npi_dataset),
        ("hcpcs dataset", layout.hcpcs_dataset),
        ("unresolved report", layout.unresolved_report),
        ("triage", layout.triage),
    ):
        console.print(f"  {label:18s} {path}{'' if path.exists() else '  (not written)'}")


PART = DemoPart(
    name="medicaid_spending",
    order=10,
    generate=generate_world,
    steps=(
        (
            f"job '{main_job.name}': sources → warehouse → resolution → outputs",
            lambda runner: runner.run(main_job.name, tags=full_range_tags()),
        ),
        ("new weekly NPPES bundles, as the sensor sees them: one run each", Runner.apply_new_weeklies),
    ),
    summary=summary,
)

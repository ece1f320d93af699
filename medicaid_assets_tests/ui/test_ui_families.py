"""Each family added after the first, in a real browser: its lineage, an asset's row count and preview, its chart,
and one of its checks' results.

The families' assets are materialized once for the module by the demo's own runs (every part's steps, through the
CLI's runner, on the UI's instance and data dir), so the pages show what ``./run demo`` makes. Screenshots go to
``test-artifacts/ui/families-<group>-*.png``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from medicaid_assets.cli.demo_parts import parts
from medicaid_assets.cli.demo_parts.resdac_medicare import WORLD_FOLDER
from medicaid_assets.cli.runner import SAMPLE_WORLD_API, Runner, instance_for
from medicaid_assets.definitions import build_definitions
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.settings import Settings
from medicaid_assets_tests.ui.conftest import ARTIFACTS, DagsterUI, serve_dagster_ui, ui_dirs
from medicaid_assets_tests.ui.test_ui import LOCATION, _show_picture

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Family:
    group: str
    table: str  # an asset whose page shows its row count and a preview of its first rows
    chart: tuple[str, str]  # (asset, label prefix of its picture's metadata entry)
    check: tuple[str, str]  # (asset, check)


FAMILIES = [
    Family(
        "fee_schedules",
        "fee_schedules/pfs_amounts",
        ("fee_schedules/pfs_state_amounts", "chart"),
        ("fee_schedules/pfs_amounts", "one_row_per_code_modifier_locality"),
    ),
    Family(
        "medicaid_marts",
        "marts/spending_by_code",
        ("marts/medicaid_medicare_fee_index", "chart_"),
        ("marts/spending_enriched", "matches_spending_per_month"),
    ),
    Family(
        "price_transparency",
        "price_transparency/rates",
        ("price_transparency/payer_quality", "chart"),
        ("price_transparency/rates", "rate_values"),
    ),
    Family(
        "rates_warehouse",
        "rates_warehouse/bench_wc_ga",
        ("rates_warehouse/bench_medicare_opps", "chart"),
        ("rates_warehouse/bench_medicare_opps", "opps_golden_rows"),
    ),
    Family(
        "resdac_medicare",
        "warehouse/resdac_medicare/beneficiaries",
        ("warehouse/resdac_medicare/admissions", "outcomes"),
        ("warehouse/resdac_medicare/admissions", "admissions_counts_add_up"),
    ),
    Family(
        "synthetic_medicare",
        "marts/synthetic_medicare_mart_provider_outliers",
        ("marts/synthetic_medicare_mart_utilization", "chart"),
        ("raw/synthetic_medicare_landed", "rows_landed"),
    ),
]
LATEST_QUERY = """
query ($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode { description
  assetMaterializations(limit: 1) { metadataEntries { label __typename ... on IntMetadataEntry { intValue }
    ... on TableSchemaMetadataEntry { schema { columns { name description } } } } } } } }
"""
CHECK_QUERY = """
query ($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } } }
"""


def _key(path: str) -> dict:
    return {"path": path.split("/")}


def _latest(ui: DagsterUI, asset: str) -> tuple[str, dict[str, dict]]:
    """The asset's description and its latest materialization's metadata entries by label."""
    node = ui.graphql(LATEST_QUERY, {"key": _key(asset)})["assetNodeOrError"]
    assert node["assetMaterializations"], f"{asset} was not materialized by the demo's runs"
    entries = {entry["label"]: entry for entry in node["assetMaterializations"][0]["metadataEntries"]}
    return node["description"] or "", entries


@pytest.fixture(scope="module")
def dagster_ui(
    tmp_path_factory: pytest.TempPathFactory, world_server: WorldServer, world_dir: Path
) -> Iterator[DagsterUI]:
    """The UI on an instance and data dir filled by every demo part's runs (through the CLI's runner, as
    ``./run demo`` makes them), made while the webserver starts."""
    root = tmp_path_factory.mktemp("dagster_ui")
    home, data_dir = ui_dirs(root)
    settings = settings_for_world(
        Settings.from_env({"MEDICAID_DATA_DIR": str(data_dir)}), world_server.base_url, world_dir
    )
    # ResDAC deliveries are files, not served: the demo receives them from the world under its data dir.
    shutil.copytree(world_dir / "files" / WORLD_FOLDER, data_dir / "sample_world" / "files" / WORLD_FOLDER)
    # The instance is created (its schema stamped) before the webserver opens it.
    with instance_for(home, capture_step_output=False) as instance:
        runner = Runner(
            build_definitions(settings, api=SAMPLE_WORLD_API), instance, quiet=True, split_ranges=True, command="demo"
        )

        def demo_runs() -> None:
            for part in parts():
                for _, step in part.steps:
                    step(runner)

        with serve_dagster_ui(root, world_server, while_loading=demo_runs) as ui:
            yield ui


@pytest.mark.parametrize("family", FAMILIES, ids=[f.group for f in FAMILIES])
def test_family_lineage_table_chart_and_check(dagster_ui: DagsterUI, page: Page, family: Family) -> None:
    base, shot = dagster_ui.base_url, ARTIFACTS / f"families-{family.group}"

    # Lineage: the group's own graph, then each asset this test opens in its own lineage (the group's graph draws
    # only the nodes in view, and a large group does not fit one window).
    page.goto(f"{base}/locations/{LOCATION}/asset-groups/{family.group}/lineage")
    expect(page.get_by_text(family.group, exact=True).first).to_be_visible()
    page.screenshot(path=f"{shot}-1-lineage.png")
    for asset in {family.table, family.chart[0], family.check[0]}:
        name = asset.rsplit("/", 1)[-1]
        page.goto(f"{base}/assets/{asset}?view=lineage")
        shown = page.get_by_text(re.compile(f"^{re.escape(name[:4])}.*{re.escape(name[-6:])}$"))
        expect(page.locator(f'[data-tooltip="{name}"]').or_(shown).first).to_be_visible()

    # The table's page: its row count as recorded, every column described, and a preview with its first rows.
    _, latest = _latest(dagster_ui, family.table)
    rows = latest["dagster/row_count"]["intValue"]
    assert rows > 0, family.table
    undescribed = [c["name"] for c in latest["dagster/column_schema"]["schema"]["columns"] if not c["description"]]
    assert not undescribed, f"{family.table}: columns without a description: {undescribed}"
    page.goto(f"{base}/assets/{family.table}")
    row_count = page.get_by_text("Row count", exact=True).locator("xpath=..").locator("[data-tooltip]")
    expect(row_count).to_have_text(f"{rows:,}")
    row = page.locator("tr").filter(has=page.get_by_text("preview", exact=True))
    expect(row).to_be_visible()
    page.screenshot(path=f"{shot}-2-table.png", full_page=True)
    show = row.get_by_text("[Show Markdown]")
    if show.count():  # a long table is behind a button, a short one rendered in place
        show.click()
        preview = page.get_by_role("dialog").locator("table")
    else:
        preview = row.locator("table")
    expect(preview.locator("th").first).to_be_visible()
    assert preview.locator("tbody tr").count() == min(rows, 10)
    page.screenshot(path=f"{shot}-3-preview.png")

    # The chart: its metadata entry (named in the asset's description) renders a picture.
    asset, prefix = family.chart
    description, entries = _latest(dagster_ui, asset)
    label = next((name for name in entries if name.startswith(prefix)), None)
    assert label, f"{asset} has no picture named {prefix}*"
    assert f"`{prefix}" in description, f"{asset}'s description does not name its picture's entry: {description}"
    page.goto(f"{base}/assets/{asset}")
    _show_picture(page, label)
    page.screenshot(path=f"{shot}-4-chart.png")

    # The check: its latest result, as the asset's Checks tab shows it.
    asset, check = family.check
    node = dagster_ui.graphql(CHECK_QUERY, {"key": _key(asset)})["assetNodeOrError"]
    status = {
        c["name"]: (c["executionForLatestMaterialization"] or {}).get("status")
        for c in node["assetChecksOrError"]["checks"]
    }
    assert status.get(check) == "SUCCEEDED", status
    page.goto(f"{base}/assets/{asset}?view=checks")
    page.get_by_text(check, exact=True).filter(visible=True).first.click()  # in the list of the asset's checks
    expect(page.get_by_role("heading", name=check).or_(page.get_by_text(check, exact=True)).last).to_be_visible()
    expect(page.get_by_text("Latest execution", exact=True)).to_be_visible()
    expect(page.get_by_text("Passed", exact=True)).to_be_visible()
    page.screenshot(path=f"{shot}-5-check.png")

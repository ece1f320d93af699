"""The analyst's and operator's view, in a real browser: lineage, a full refresh, results, pictures, the sensor.

Each step is what a person does in the Dagster UI; GraphQL is only used to wait for the run and to read
what the UI should agree with. Screenshots go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re

import dagster as dg
import httpx
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Page, expect

from medicaid_assets.cli.runner import Runner, instance_for
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.reference.code_sets.keys import GROUP as CODE_SETS
from medicaid_assets.defs.reference.nppes.bundles import bundle_key, parse_files_page
from medicaid_assets.defs.reference.nppes.keys import WEEKLY_BUNDLE, WEEKLY_UPDATE
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets.sample_world.urls import settings_for_world, world_env
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.waiting import wait_until
from medicaid_assets_tests.ui.conftest import ARTIFACTS, DagsterUI

pytestmark = pytest.mark.slow

LOCATION = "medicaid_assets"
GROUPS = {  # one group (or two) per family folder
    "medicaid_spending": {"medicaid_spending_file", "spending"},
    "nppes": {"nppes_monthly_bundle", "nppes_weekly_bundle", "nppes_providers", "nppes_weekly_update"},
    "code_sets": {"cpt_archives", "cpt_hcpcs_fallback"},
    "resolution": {"dataset_npis", "dataset_codes", "npi_cache", "hcpcs_cache"},
    "resolved_outputs": {"npi_dataset", "hcpcs_dataset", "unresolved_identifiers", "triage"},
}
# Run config typed into the launch dialog: one process for the whole run, as an impatient person would ask
# for on a small machine (the product keeps Dagster's multiprocess default).
IN_PROCESS = "execution:\n  config:\n    in_process: {}\n"
RUN_SECONDS = 180
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
RUNS_QUERY = """
{ runsOrError(limit: 20) { ... on Runs { results { runId status tags { key value } } } } }
"""
MATERIALIZATIONS_QUERY = """
{ assetNodes { assetKey { path } groupName
  assetMaterializations(limit: 1) { runId metadataEntries { label } } } }
"""


def _ui_run(ui: DagsterUI) -> dict | None:
    runs = ui.graphql(RUNS_QUERY)["runsOrError"]["results"]
    return next((r for r in runs if {"key": "dagster/from_ui", "value": "true"} in r["tags"]), None)


def _wait_for_run(ui: DagsterUI) -> dict:
    """The run launched from the UI, once finished."""

    def finished() -> dict | None:
        run = _ui_run(ui)
        return run if run and run["status"] in TERMINAL else None

    return wait_until(
        finished,
        lambda: f"a finished run launched from the UI (last seen: {_ui_run(ui)})",
        timeout=RUN_SECONDS,
        every=1,
    )


def _show_picture(page: Page, label: str) -> None:
    """Open the markdown metadata entry ``label``: its picture must render, with pixels."""
    page.locator("tr", has_text=label).get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog").filter(has_text=label)
    picture = dialog.locator('img[src^="data:image/png;base64,"]')
    expect(picture).to_be_visible()
    width, height = picture.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width >= 400 and height >= 150, (width, height)


def test_full_refresh_from_the_ui_and_what_it_shows(dagster_ui: DagsterUI, page: Page) -> None:
    base = dagster_ui.base_url

    # Lineage: every family's groups, the flow left to right (sources, then resolution, then outputs), then each
    # group's key assets.
    page.goto(f"{base}/asset-groups")
    expect(page).to_have_title("Global asset lineage")
    for group in GROUPS:
        expect(page.locator(f'button div[title="{group}"]')).to_be_visible()  # the sidebar
        expect(page.locator(f'[data-tooltip="{group}"]')).to_be_visible()  # the graph
    left = {group: page.locator(f'[data-tooltip="{group}"]').bounding_box()["x"] for group in GROUPS}
    sources = max(left["medicaid_spending"], left["nppes"], left["code_sets"])
    assert sources < left["resolution"] < left["resolved_outputs"], left
    page.screenshot(path=ARTIFACTS / "01-lineage-groups.png")
    # The graph draws only the nodes in view: a tall window shows a whole group.
    viewport = page.viewport_size
    page.set_viewport_size({"width": viewport["width"], "height": 2400})
    for group, assets in GROUPS.items():
        page.goto(f"{base}/locations/{LOCATION}/asset-groups/{group}/lineage")
        for asset in assets:
            expect(page.locator(f'[class*="AssetNode_assetName"] [data-tooltip="{asset}"]')).to_be_attached()
    page.set_viewport_size(viewport)

    # Refresh from the job's "Materialize all": the latest spending month (one run; more months make a backfill,
    # which needs the daemon), with run config for one process.
    page.goto(f"{base}/locations/{LOCATION}/jobs/medicaid_pipeline")
    page.get_by_role("button", name="Materialize all").click()
    confirm = page.get_by_role("button", name="Confirm")  # "upstream not materialized": the weekly update
    partitions = page.get_by_text("Partition selection")
    expect(confirm.or_(partitions).first).to_be_visible()
    if confirm.is_visible():
        confirm.click()
    page.get_by_role("button", name="Latest", exact=True).click()
    expect(page.get_by_text("1 partition", exact=True)).to_be_visible()
    page.get_by_text("Config", exact=True).click()
    page.get_by_role("button", name="Add config").click()
    page.locator(".CodeMirror").last.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(IN_PROCESS)
    page.get_by_role("button", name="Save config").click()
    expect(page.get_by_text("Config saved")).to_be_visible()
    expect(page.get_by_text("Config Editor")).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "02-launch-dialog.png")
    page.get_by_role("button", name="Launch 1 run").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    run = _wait_for_run(dagster_ui)
    page.goto(f"{base}/runs/{run['runId']}")
    expect(page.get_by_text("RUN_SUCCESS").or_(page.get_by_text("RUN_FAILURE")).first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "03-run.png")
    assert run["status"] == "SUCCESS", f"run {run['runId']} ended {run['status']}: see 03-run.png"
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()

    # Every asset of the run carries a row count and a column schema.
    weekly = {WEEKLY_BUNDLE.to_user_string(), WEEKLY_UPDATE.to_user_string()}
    missing = {}
    for node in dagster_ui.graphql(MATERIALIZATIONS_QUERY)["assetNodes"]:
        key = "/".join(node["assetKey"]["path"])
        if node["groupName"] not in GROUPS or key in weekly:
            continue
        latest = node["assetMaterializations"]
        labels = {e["label"] for e in latest[0]["metadataEntries"]} if latest else set()
        lacking = {"dagster/row_count", "dagster/column_schema"} - labels
        if not latest or latest[0]["runId"] != run["runId"] or lacking:
            missing[key] = sorted(lacking) or "not materialized by the run"
    assert not missing, missing

    # The npi dataset's page shows the row count of the file it wrote.
    page.goto(f"{base}/assets/outputs/npi_dataset")
    row_count = page.get_by_text("Row count", exact=True).locator("xpath=..").locator("[data-tooltip]")
    expect(row_count).to_have_text(re.compile(r"^[\d,]+$"))
    rows = pq.ParquetFile(DataLayout(dagster_ui.data_dir).npi_dataset).metadata.num_rows
    assert rows > 0
    assert int(row_count.inner_text().replace(",", "")) == rows
    page.screenshot(path=ARTIFACTS / "04-npi-dataset.png")

    # Pictures: where the money goes by month, what the unresolved identifiers are.
    page.goto(f"{base}/assets/warehouse/spending")
    _show_picture(page, "total_paid_per_month")
    page.screenshot(path=ARTIFACTS / "05-spending-picture.png")
    page.goto(f"{base}/assets/outputs/triage")
    _show_picture(page, "kinds_chart")
    page.screenshot(path=ARTIFACTS / "06-triage-picture.png")
    page.goto(f"{base}/assets/resolution/npi_cache")
    _show_picture(page, "statuses")


def test_sensor_page_previews_the_new_weekly_bundles(dagster_ui: DagsterUI, page: Page, world: WorldControl) -> None:
    files_page = world_env(world.base_url)["MEDICAID_NPPES_FILES_PAGE_URL"]
    weeklies = [bundle_key(url) for url in parse_files_page(httpx.get(files_page).text, files_page).weekly]
    assert weeklies

    page.goto(f"{dagster_ui.base_url}/automation")
    for name in ("nppes_weekly_sensor", "nppes_monthly_schedule", "medicaid_pipeline_schedule"):
        expect(page.get_by_role("link", name=name)).to_be_visible()

    page.goto(f"{dagster_ui.base_url}/locations/{LOCATION}/sensors/nppes_weekly_sensor")
    expect(page.get_by_text("Hourly GET of the NPPES files page")).to_be_visible()
    expect(page.get_by_text("Sensor has never run")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "07-sensor.png")
    page.get_by_role("button", name="Preview tick result").click()
    page.get_by_role("button", name="Continue").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Requested runs ({len(weeklies)})")).to_be_visible()
    for key in weeklies:
        expect(dialog.get_by_role("cell", name=key)).to_be_visible()
    page.screenshot(path=ARTIFACTS / "08-sensor-preview.png")
    dialog.get_by_role("button", name="Close").click()


BACKFILLS_QUERY = """
{ partitionBackfillsOrError(limit: 5) { ... on PartitionBackfills { results {
  id status isAssetBackfill assetSelection { path } } } } }
"""


def test_materialize_all_on_the_global_lineage_launches_a_backfill(dagster_ui: DagsterUI, page: Page) -> None:
    """The most natural button: every asset of every group, every partition, one click (the daemon runs it)."""
    page.goto(f"{dagster_ui.base_url}/asset-groups")
    expect(page).to_have_title("Global asset lineage")
    # The README's flow order ends with publish, drawn right of the outputs it uploads.
    left = {g: page.locator(f'[data-tooltip="{g}"]').bounding_box()["x"] for g in ("resolved_outputs", "publish")}
    assert left["resolved_outputs"] < left["publish"], left
    page.get_by_role("button", name="Materialize all").click()
    confirm = page.get_by_role("button", name="Confirm")  # "upstream not materialized", when Dagster asks
    launch = page.get_by_role("button", name="Launch backfill")
    expect(confirm.or_(launch).first).to_be_visible()
    if confirm.is_visible():
        confirm.click()
    expect(page.get_by_text("All partitions", exact=True)).to_be_visible()
    page.screenshot(path=ARTIFACTS / "09-materialize-all-dialog.png")
    launch.click()
    expect(page.get_by_role("dialog")).to_have_count(0)  # a refused backfill leaves the dialog open

    backfills = dagster_ui.graphql(BACKFILLS_QUERY)["partitionBackfillsOrError"]["results"]
    assert len(backfills) == 1 and backfills[0]["isAssetBackfill"], backfills
    selected = {"/".join(key["path"]) for key in backfills[0]["assetSelection"]}
    assert {"warehouse/spending", "raw/nppes_weekly_bundle", "outputs/npi_dataset"} <= selected, selected
    page.goto(f"{dagster_ui.base_url}/runs/b/{backfills[0]['id']}")
    expect(page.get_by_text(backfills[0]["id"]).first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "10-materialize-all-backfill.png")


def test_the_runs_list_says_what_each_cli_run_did(dagster_ui: DagsterUI, page: Page, world_server) -> None:
    """A command's runs carry its name and their groups as tags; the bookkeeping tag of the process is hidden."""
    settings = settings_for_world(
        Settings.from_env({"MEDICAID_DATA_DIR": str(dagster_ui.data_dir)}), world_server.base_url
    )
    with instance_for(dagster_ui.data_dir.parent / "dagster_home", capture_step_output=False) as instance:
        runner = Runner(build_definitions(settings), instance, quiet=True, command="download")
        assert runner.run(main_job.name, dg.AssetSelection.groups(CODE_SETS))
        run_id = runner.results[-1].run_id
    page.goto(f"{dagster_ui.base_url}/runs")
    expect(page.get_by_text(run_id[:8])).to_be_visible()
    expect(page.get_by_text("command: download")).to_be_visible()
    expect(page.get_by_text("groups: code_sets")).to_be_visible()
    expect(page.get_by_text("process")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "11-runs-list.png")

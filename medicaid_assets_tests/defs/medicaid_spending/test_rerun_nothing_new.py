"""A second run of the main job with nothing new asks no API and rewrites nothing (contract §11).

Behaviour only: how fast that is, is the benchmarks' business (benchmarks/README.md). The first run (every month,
every step) is made once for the module; each test makes its own runs after it, on the same data dir and instance.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from medicaid_assets.cli.runner import SAMPLE_WORLD_API, Runner, full_range_tags
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.medicaid_spending.keys import SPENDING
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.events import first_metadata


@dataclass(frozen=True)
class FirstRun:
    settings: Settings
    runner: Runner  # its results start with the first run's


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, world_server: WorldServer) -> Iterator[FirstRun]:
    """The main job over every month on a fresh data dir and instance, as the CLI runs it."""
    data = tmp_path_factory.mktemp("rerun") / "data"
    settings = settings_for_world(Settings.from_env({"MEDICAID_DATA_DIR": str(data)}), world_server.base_url)
    control = WorldControl(world_server.base_url)
    control.clear_faults()
    control.publish_weeklies(None)
    with dg.instance_for_test() as instance:
        runner = Runner(build_definitions(settings, api=SAMPLE_WORLD_API), instance, quiet=True, split_ranges=True)
        assert runner.run(main_job.name, tags=full_range_tags())
        yield FirstRun(settings, runner)


def _files(layout: DataLayout) -> dict[str, int]:
    """mtime of every derived file the main job writes (the warehouse aside: DuckDB touches it on open)."""
    folders = (layout.assets, layout.output, layout.root / "mappings")  # assets: the values between assets
    files = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
    return {str(p): p.stat().st_mtime_ns for p in [*files, layout.unresolved_report, layout.npi_cache]}


@pytest.mark.slow
def test_the_second_run_asks_nothing_and_rewrites_nothing(first_run: FirstRun, world: WorldControl) -> None:
    settings, runner = first_run.settings, first_run.runner
    layout = DataLayout(settings.data_dir)
    first = _files(layout)  # as the last run left them (the module's first run, when this test runs first)
    # The triage's row count is its identifier rows: one per row of the unresolved report.
    triage_rows = first_metadata(runner.results)["outputs/triage"]["dagster/row_count"].value
    with layout.unresolved_report.open() as fh:
        assert triage_rows == sum(1 for _ in fh) - 1 > 0
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        loads = conn.execute("SELECT * FROM spending_loads ORDER BY month").fetchall()
    world.clear_requests()
    mark = len(runner.results)
    assert runner.run(main_job.name, tags=full_range_tags())
    meta = first_metadata(runner.results[mark:])
    assert [e for e in world.requests() if e["api"] in ("npi", "hcpcs")] == []
    assert _files(layout) == first
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        assert conn.execute("SELECT * FROM spending_loads ORDER BY month").fetchall() == loads
    # Every month current: the CLI skips the run over the 84 partitions (no re-recorded materializations).
    assert "warehouse/spending" not in meta
    assert not any("dagster/asset_partition_range_start" in r.dagster_run.tags for r in runner.results[mark:])
    assert meta["resolution/dataset_npis"]["rewritten"].value is False
    assert meta["resolution/dataset_codes"]["rewritten"].value is False
    assert meta["resolution/npi_cache"]["current"].value is True
    assert (
        meta["outputs/npi_dataset"]["dagster/row_count"].value
        == meta["resolution/dataset_npis"]["dagster/row_count"].value
    )


@pytest.mark.slow
def test_a_tampered_month_or_a_removed_output_is_made_again(first_run: FirstRun, world: WorldControl) -> None:
    settings, runner = first_run.settings, first_run.runner
    layout = DataLayout(settings.data_dir)
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        conn.execute("UPDATE spending SET TOTAL_PAID = TOTAL_PAID + 1 WHERE CLAIM_FROM_MONTH = DATE '2021-05-01'")
    Path(layout.npi_dataset).unlink()
    mark = len(runner.results)
    assert runner.run(main_job.name, tags=full_range_tags())
    meta = first_metadata(runner.results[mark:])
    # Only the tampered month is run, and rewritten.
    assert meta["warehouse/spending"]["months_rewritten"].value == 1
    again = runner.results[mark:]
    assert {e.partition for r in again for e in r.get_asset_materialization_events() if e.asset_key == SPENDING} == {
        "2021-05-01"
    }
    ranges = {
        (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"])
        for tags in (r.dagster_run.tags for r in again)
        if "dagster/asset_partition_range_start" in tags
    }
    assert ranges == {("2021-05-01", "2021-05-01")}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM spending_loads").fetchone()[0] == 84
    assert layout.npi_dataset.is_file()
    assert meta["outputs/npi_dataset"]["dagster/row_count"].value > 0

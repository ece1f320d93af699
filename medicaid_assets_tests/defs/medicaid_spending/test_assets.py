"""The spending file and its monthly-partitioned table, against the sample-world server and a real DuckDB."""

import re
import zipfile
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medicaid_assets.cli.runner import full_range_tags
from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.medicaid_spending.assets import medicaid_spending_file, spending_table
from medicaid_assets.defs.medicaid_spending.keys import SPENDING, monthly_partitions
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets.sample_world.urls import SPENDING_V2_URL, local_url
from medicaid_assets.sample_world.world import world_spec
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.pipeline import QUICK_RETRY_FILES

ASSETS = [medicaid_spending_file, spending_table]


def _run(settings: Settings, instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteInProcessResult:
    resources = {**build_resources(settings), "files": QUICK_RETRY_FILES}
    return dg.materialize(ASSETS, resources=resources, instance=instance, raise_on_error=False, **kwargs)


def _table(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def _world_rows(world_dir: Path) -> int:
    return world_spec(world_dir).spending_rows


def test_full_backfill_is_one_run_and_matches_the_file(settings: Settings, world: WorldControl, world_dir) -> None:
    with dg.instance_for_test() as instance:
        result = _run(settings, instance, tags=full_range_tags())
        assert result.success
    # The one execution recorded every month of the table (a range run: one materialization per partition).
    months = {e.partition for e in result.get_asset_materialization_events() if e.asset_key == SPENDING}
    assert months == set(monthly_partitions.get_partition_keys())
    rows, months, lo, hi = _table(
        settings,
        "SELECT count(*), count(DISTINCT CLAIM_FROM_MONTH), min(CLAIM_FROM_MONTH), max(CLAIM_FROM_MONTH) FROM spending",
    )[0]
    assert rows == _world_rows(world_dir)
    assert months == 84 and str(lo) == "2018-01-01" and str(hi) == "2024-12-01"
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "schema_and_types": True,
        "months_in_range": True,
        "no_negative_claims": True,
        "malformed_identifiers": True,
    }
    mats = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert mats["raw/medicaid_spending_file"]["dagster/row_count"].value == rows
    assert mats["raw/medicaid_spending_file"]["column_spelling"].value == "original"
    assert mats["warehouse/spending"]["dagster/row_count"].value == rows
    # What the asset pages show: every column described, money in cents.
    for key in ("raw/medicaid_spending_file", "warehouse/spending"):
        columns = mats[key]["dagster/column_schema"].value.columns
        assert all(column.description for column in columns), [c.name for c in columns if not c.description]
    paid = mats["warehouse/spending"]["total_paid"].value
    assert paid == round(paid, 2) and repr(paid) == repr(round(paid, 2))


def test_one_month_rerun_leaves_other_months_untouched_and_downloads_nothing(
    settings: Settings, world: WorldControl
) -> None:
    with dg.instance_for_test() as instance:
        assert _run(settings, instance, tags=full_range_tags()).success
        before = _table(settings, "SELECT * FROM spending ORDER BY ALL")
        world.clear_requests()
        with duckdb.connect(str(settings.warehouse_path)) as conn:  # tamper with one month only
            conn.execute("UPDATE spending SET TOTAL_PAID = -1 WHERE CLAIM_FROM_MONTH = DATE '2020-03-01'")
            conn.execute(
                "INSERT INTO spending SELECT * FROM spending WHERE CLAIM_FROM_MONTH = DATE '2019-07-01' LIMIT 1"
            )
        assert _run(settings, instance, partition_key="2020-03-01").success
    after = _table(settings, "SELECT * FROM spending ORDER BY ALL")
    assert world.requests() == []
    expected_extra = [r for r in before if str(r[3]) == "2019-07-01"][:1]
    assert len(after) == len(before) + 1 and set(after) == set(before) | set(expected_extra)
    assert _table(settings, "SELECT count(*) FROM spending WHERE TOTAL_PAID = -1")[0][0] == 0


def test_later_release_with_renamed_columns_and_yyyy_mm_months(settings: Settings, world_server) -> None:
    settings = replace(settings, spending_url=local_url(world_server.base_url, SPENDING_V2_URL))
    with dg.instance_for_test() as instance:
        result = _run(settings, instance, tags=full_range_tags())
    assert result.success
    mats = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert mats["raw/medicaid_spending_file"]["column_spelling"].value.startswith("later")
    cols = [r[0] for r in _table(settings, "DESCRIBE spending")]
    assert cols[4:6] == ["TOTAL_UNIQUE_BENEFICIARIES", "TOTAL_CLAIMS"]
    assert _table(settings, "SELECT count(*) FROM spending WHERE day(CLAIM_FROM_MONTH) <> 1")[0][0] == 0
    assert _table(settings, "SELECT count(DISTINCT CLAIM_FROM_MONTH) FROM spending")[0][0] == 84


@pytest.mark.parametrize("damage", ["truncated", "missing_column", "wrong_type"])
def test_bad_release_fails_clearly_and_keeps_file_and_table(
    settings: Settings, world: WorldControl, world_server, world_dir: Path, damage: str
) -> None:
    with dg.instance_for_test() as instance:
        assert _run(settings, instance, tags=full_range_tags()).success
        before = _table(settings, "SELECT count(*), sum(TOTAL_PAID) FROM spending")
        good = next((settings.data_dir / "raw" / "medicaid").glob("*.parquet"))
        good_bytes = good.read_bytes()
        # A new release at another URL, served damaged by the sample-world server.
        bad = world_dir / "files" / "bad.example" / damage / good.name
        bad.parent.mkdir(parents=True, exist_ok=True)
        if damage == "truncated":
            bad.write_bytes(good_bytes[: len(good_bytes) // 2])
            match = "not a readable parquet file"
        elif damage == "wrong_type":
            table = pq.read_table(good)
            paid = pa.array([str(v) for v in table["TOTAL_PAID"].to_pylist()])
            pq.write_table(table.set_column(table.schema.get_field_index("TOTAL_PAID"), "TOTAL_PAID", paid), bad)
            match = "column\\(s\\) of an unexpected type: TOTAL_PAID is string"
        else:
            pq.write_table(pa.table(pq.read_table(good).drop_columns(["TOTAL_CLAIMS"])), bad)
            match = r"missing required column\(s\): TOTAL_CLAIMS or TOTAL_CLAIM_LINES"
        release = replace(settings, spending_url=f"{world_server.base_url}/bad.example/{damage}/{good.name}")
        result = _run(release, instance, tags=full_range_tags())
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.to_string()
    assert re.search(match, message) and release.spending_url in message
    assert good.read_bytes() == good_bytes
    assert _table(settings, "SELECT count(*), sum(TOTAL_PAID) FROM spending") == before


def test_damaged_local_copy_is_downloaded_again(settings: Settings, world: WorldControl) -> None:
    with dg.instance_for_test() as instance:
        assert _run(settings, instance, tags=full_range_tags()).success
        good = next((settings.data_dir / "raw" / "medicaid").glob("*.parquet"))
        good_bytes = good.read_bytes()
        good.write_bytes(good_bytes[:1000])
        world.clear_requests()
        assert _run(settings, instance, tags=full_range_tags()).success
    assert good.read_bytes() == good_bytes
    assert [r["method"] for r in world.requests()] == ["GET"]


def test_a_zip_without_a_parquet_is_refused_and_not_kept(settings: Settings, world_server, world_dir: Path) -> None:
    served = world_dir / "files" / "bad-zips" / "spending.zip"
    served.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(served, "w") as zf:
        zf.writestr("README.txt", "the parquet is elsewhere")
    settings = replace(settings, spending_url=f"{world_server.base_url}/bad-zips/spending.zip")
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [medicaid_spending_file], resources=build_resources(settings), instance=instance, raise_on_error=False
        )
    assert not result.success
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "expected one .parquet file inside the zip, found none" in error.to_string()
    raw = settings.data_dir / "raw" / "medicaid"
    assert not raw.exists() or list(raw.iterdir()) == []

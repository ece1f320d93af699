"""The whole family on the sample world: download → land → dbt build (models, tests as checks, marts, charts)."""

import time

import dagster as dg
import duckdb
import pytest

from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.synthetic_medicare.checks import rows_landed, years_in_release
from medicaid_assets.defs.synthetic_medicare.jobs import ALL_FILE_TYPES_TAGS
from medicaid_assets.defs.synthetic_medicare.keys import DOWNLOADS, FILE_TYPES, LANDED, model_key
from medicaid_assets.defs.synthetic_medicare.raw import synthetic_medicare_downloads, synthetic_medicare_landed
from medicaid_assets.defs.synthetic_medicare.warehouse import synthetic_medicare_models
from medicaid_assets.sample_world.synthetic_medicare import OUTLIER_NPI
from medicaid_assets.sample_world.world import read_world
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.events import checks, metadata
from medicaid_assets_tests.support.pipeline import QUICK_RETRY_FILES

ASSETS = [
    synthetic_medicare_downloads,
    synthetic_medicare_landed,
    rows_landed,
    years_in_release,
    synthetic_medicare_models,
]
pytestmark = pytest.mark.slow  # dbt starts in ~5-10 s on a loaded 2-core machine


def run(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    resources = {**build_resources(settings), "files": QUICK_RETRY_FILES}
    return dg.materialize(
        ASSETS, resources=resources, instance=instance, raise_on_error=False, tags=ALL_FILE_TYPES_TAGS
    )


def query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_release_lands_builds_and_rebuilds_nothing_when_nothing_is_new(settings: Settings, world, world_dir) -> None:
    summary = read_world(world_dir)["summary"]["synthetic_medicare"]
    with dg.instance_for_test() as instance:
        started = time.monotonic()
        result = run(settings, instance)
        cold = time.monotonic() - started
        assert result.success
        outcomes = checks(result)
        dbt_checks = [name for name in outcomes if name.startswith(("warehouse/", "marts/"))]
        assert len(dbt_checks) >= 15 and all(outcomes.values()), outcomes
        assert outcomes[f"{LANDED.to_user_string()}:rows_landed"]
        landed = metadata(result, LANDED.to_user_string())["rows_per_type_and_year"]
        assert set(landed) == set(FILE_TYPES)
        for file_type, count in summary["rows"].items():
            if not file_type.startswith("beneficiary"):
                assert sum(landed[file_type].values()) == count
        assert sum(landed["beneficiary"].values()) == 11 * summary["beneficiaries"]

        # One row per claim: lines deduplicated to CLM_ID (the world writes several lines per claim).
        lines, claims = query(
            settings, "SELECT count(*), count(DISTINCT clm_id) FROM synthetic_medicare.fct_claim_line"
        )[0]
        assert lines > claims == query(settings, "SELECT count(*) FROM synthetic_medicare.fct_claim")[0][0]
        # The planted outlier is flagged, and none of its peers.
        flagged = query(
            settings, "SELECT provider_npi FROM synthetic_medicare.mart_provider_outliers WHERE screening_flag"
        )
        assert flagged == [(OUTLIER_NPI,)]
        mart = metadata(result, model_key("mart_provider_outliers").to_user_string())
        assert mart["chart"].startswith("![") and mart["dagster/row_count"] > 1

        started = time.monotonic()
        again = run(settings, instance)
        warm = time.monotonic() - started
        assert again.success
        # Nothing new: the files reused, nothing landed, no dbt start, nothing else recorded (the last ones stand).
        recorded = [e.asset_key for e in again.get_asset_materialization_events()]
        assert recorded == [DOWNLOADS] and metadata(again, DOWNLOADS.to_user_string())["files_reused"] == 3
        assert again.get_asset_check_evaluations() == []
        assert warm < cold  # the benchmark measures the ratio

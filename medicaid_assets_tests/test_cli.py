"""The README's quick-start command, run as a user would (a subprocess, its own data dir and instance)."""

from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.defs.medicaid_spending.keys import SPENDING, monthly_partitions
from medicaid_assets.defs.reference.nppes.keys import WEEKLY_BUNDLE, WEEKLY_UPDATE, nppes_weekly_partitions
from medicaid_assets.settings import child_env
from medicaid_assets_tests.support.cli import SUCCEEDED, run_cli_ok
from medicaid_assets_tests.support.events import materialization_count
from medicaid_assets_tests.support.ports import free_port


def _demo(home: Path, env: dict[str, str], port: int):
    """``medicaid-assets demo`` as a user runs it (the world on ``port``, the same for both runs); it must succeed."""
    return run_cli_ok(["demo", "--world-port", str(port)], home, env)


@pytest.mark.slow
def test_demo_runs_the_main_job_end_to_end_offline(tmp_path: Path) -> None:
    env = child_env({"MEDICAID_DATA_DIR": str(tmp_path / "data")})
    home = tmp_path / "dagster_home"
    port = free_port()
    result = _demo(home, env, port)
    assert SUCCEEDED.search(result.stdout)
    for output in ("npi_provider_mapping.csv", "hcpcs_code_mapping.csv", "npi.parquet", "hcpcs.parquet"):
        assert output in result.stdout and "(not written)" not in result.stdout
    assert str(tmp_path / "data") in result.stdout and "http://127.0.0.1:3000" in result.stdout
    assert f"./run ui --world-port {port}" in result.stdout  # the closing hint opens the UI on the same world
    assert (tmp_path / "data" / "warehouse.duckdb").is_file()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert all(run.is_success for run in instance.get_runs())
        # The main job loaded every spending month; each weekly NPPES bundle the sensor finds was fetched and applied.
        assert instance.get_materialized_partitions(SPENDING) == set(monthly_partitions.get_partition_keys())
        weeks = instance.get_dynamic_partitions(nppes_weekly_partitions.name)
        assert weeks and instance.get_materialized_partitions(WEEKLY_UPDATE) == set(weeks)
        recorded = {key: materialization_count(instance, key) for key in (SPENDING, WEEKLY_BUNDLE, WEEKLY_UPDATE)}
    # Again, nothing new: the files are reused, no request, no month rewritten, no weekly bundle fetched again.
    again = _demo(home, env, port)
    assert SUCCEEDED.search(again.stdout) and "API requests made by these runs: 0" in again.stdout
    assert "84 month(s) rewritten" not in again.stdout + again.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert all(run.is_success for run in instance.get_runs())
        assert {key: materialization_count(instance, key) for key in recorded} == recorded
        latest = instance.get_latest_materialization_event(dg.AssetKey(["raw", "medicaid_spending_file"]))
        assert latest is not None and latest.asset_materialization.metadata["reused_existing_file"].value is True

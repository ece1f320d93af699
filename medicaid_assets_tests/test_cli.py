"""The README's quick-start command, run as a user would (a subprocess, its own data dir and instance)."""

import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.settings import PROJECT_ROOT, child_env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _demo(home: Path, env: dict[str, str], port: int) -> subprocess.CompletedProcess[str]:
    """``medicaid-assets demo`` as a user runs it (the world on ``port``, the same for both runs); it must succeed."""
    command = [sys.executable, "-m", "medicaid_assets.cli", "demo", "--dagster-home", str(home)]
    command += ["--world-port", str(port)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_demo_runs_the_main_job_end_to_end_offline(tmp_path: Path) -> None:
    env = child_env({"MEDICAID_DATA_DIR": str(tmp_path / "data")})
    home = tmp_path / "dagster_home"
    port = _free_port()
    result = _demo(home, env, port)
    assert "6 run(s) succeeded" in result.stdout
    for output in ("npi_provider_mapping.csv", "hcpcs_code_mapping.csv", "npi.parquet", "hcpcs.parquet"):
        assert output in result.stdout and "(not written)" not in result.stdout
    assert str(tmp_path / "data") in result.stdout and "http://127.0.0.1:3000" in result.stdout
    assert (tmp_path / "data" / "warehouse.duckdb").is_file()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        # The main job (as three runs: before, over and after the spending months, see ranged_runs), then one
        # run per weekly NPPES bundle the sensor finds.
        assert len(runs) == 6 and all(run.is_success for run in runs)
    # Again, nothing new: the files are reused, no request, no run over the spending months, no weekly run.
    again = _demo(home, env, port)
    assert "2 run(s) succeeded" in again.stdout and "API requests made by these runs: 0" in again.stdout
    assert "84 month(s) rewritten" not in again.stdout + again.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert len(instance.get_runs()) == 8
        latest = instance.get_latest_materialization_event(dg.AssetKey(["raw", "medicaid_spending_file"]))
        assert latest is not None and latest.asset_materialization.metadata["reused_existing_file"].value is True

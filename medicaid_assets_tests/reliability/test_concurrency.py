"""Two runs at once: nothing is corrupted, and the one that cannot go on waits or says why it stopped.

* Two CLI commands on one data dir and one Dagster home: the second stops at once with a clear message (the data
  dir is held by the first, a lock that dies with its process); the first finishes; results equal the reference.
* Two runs through the instance (in-process executor, the project's ``dagster.yaml``: pool ``duckdb``, one slot):
  both succeed, and their DuckDB steps never overlap: the second waits for the pool.
* The code location (what the webserver and the daemon load) never opens the warehouse, even while a run holds it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg

from medicaid_assets.cli import BUSY_EXIT_CODE
from medicaid_assets.settings import PROJECT_ROOT
from medicaid_assets_tests.reliability.harness import (
    FAST_BUILD,
    STATS,
    check_state,
    cli_env,
    compare_rows,
    new_home,
    outputs,
    raw_digest,
    run_cli,
    warehouse_digest,
)

DUCKDB_STEPS = {
    "warehouse__spending",
    "warehouse__nppes_providers",
    "resolution__dataset_npis",
    "resolution__dataset_codes",
    "resolution__npi_bulk_rows",
}


def _both(command: list[str], data: Path, home: Path, base: str):
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: run_cli(command, data, home, base), range(2)))
    STATS.add("concurrent_runs", 2)
    return sorted(runs, key=lambda r: r.returncode)


def test_two_cli_commands_at_once_on_one_data_dir(reference, rel_server, tmp_path: Path) -> None:
    data, home = tmp_path / "data", new_home(tmp_path / "home")
    for command in (["download"], ["build-datasets", *FAST_BUILD]):
        first, second = _both(command, data, home, rel_server.base_url)
        assert first.returncode == 0, first.tail()
        assert second.returncode in (0, BUSY_EXIT_CODE), second.tail()
        if second.returncode == BUSY_EXIT_CODE:
            assert "another medicaid-assets command is using" in second.stderr and str(data) in second.stderr
            assert "nothing was changed" in second.stderr
            said = next(line for line in second.stderr.splitlines() if "another medicaid-assets" in line)
            STATS.note(f"concurrent {command[0]}: the second stopped at once: {said[:200]}")
        assert check_state(data, finished=True) == []
    assert raw_digest(data) == reference.raw
    assert warehouse_digest(data / "warehouse.duckdb") == reference.warehouse
    assert compare_rows(outputs(data, rel_server.base_url), reference.outputs) == {}


RUN_THROUGH_INSTANCE = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    from pathlib import Path
    import dagster as dg
    from medicaid_assets.cli import full_range_tags, instance_for
    from medicaid_assets_tests.reliability.inprocess import Pipeline, settings
    data, base, home = sys.argv[1:4]
    keys = [dg.AssetKey.from_user_string(k) for k in sys.argv[4:]]
    with instance_for(Path(home)) as instance:  # the CLI's way: a fresh home is created by one process at a time
        pipeline = Pipeline(settings(Path(data), base), instance)
        ok = pipeline.run(dg.AssetSelection.assets(*keys), tags=full_range_tags())
        print(pipeline.last.run_id, "OK" if ok else "FAILED", flush=True)
    """
)


def _step_windows(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    starts, ends = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key not in DUCKDB_STEPS:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[event.step_key] = record.timestamp
    return {k: (starts[k], ends[k]) for k in starts if k in ends}


def test_two_runs_through_the_instance_wait_for_the_duckdb_pool(reference, rel_server, tmp_path: Path) -> None:
    data = shutil.copytree(reference.sourced, tmp_path / "data")
    home = new_home(tmp_path / "home")
    keys = ["warehouse/spending", "resolution/dataset_npis", "resolution/dataset_codes", "resolution/npi_bulk_rows"]
    args = [sys.executable, "-c", RUN_THROUGH_INSTANCE, str(data), rel_server.base_url, str(home), *keys]
    env = cli_env(data, rel_server.base_url, {"DAGSTER_HOME": str(home)})
    procs = [
        subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    STATS.add("concurrent_runs", 2)
    STATS.add("runs", 2)
    assert all(p.returncode == 0 for p in procs), outs
    run_ids = [out.split()[0] for out, _ in outs]
    assert all(out.split()[1] == "OK" for out, _ in outs), outs
    with dg.DagsterInstance.from_config(str(home)) as instance:
        a, b = (_step_windows(instance, run_id) for run_id in run_ids)
        assert set(a) == set(b) == {k.replace("/", "__") for k in keys}
        overlaps = [(x, y) for x, (s1, e1) in a.items() for y, (s2, e2) in b.items() if s1 < e2 and s2 < e1]
        assert overlaps == [], f"DuckDB steps of the two runs overlapped: {overlaps}"
        assert instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots == []
    assert warehouse_digest(data / "warehouse.duckdb") == reference.warehouse
    assert check_state(data, finished=True) == []


LOAD_CODE_LOCATION = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("ignore")
    import duckdb

    def refuse(*args, **kwargs):
        raise AssertionError(f"the code location opened DuckDB: {args}")

    duckdb.connect = refuse
    import dagster as dg
    from dagster._core.remote_representation.external_data import RepositorySnap
    import medicaid_assets.definitions as location
    from medicaid_assets.defs.nppes.sensors import nppes_weekly_sensor

    repo = location.defs.get_repository_def()
    RepositorySnap.from_def(repo)  # what the code server hands the webserver
    for job in repo.get_all_jobs():
        job.get_job_snapshot()
    with dg.instance_for_test() as instance:  # what the daemon does with the sensor
        resources = {k: v for k, v in location.defs.resources.items() if k in ("files", "sources")}
        nppes_weekly_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    print("LOADED")
    """
)
HOLD_WAREHOUSE = textwrap.dedent(
    """
    import sys, time, duckdb
    conn = duckdb.connect(sys.argv[1])
    conn.execute("BEGIN; DELETE FROM spending WHERE false")
    print("HOLDING", flush=True)
    time.sleep(120)
    """
)


def test_the_code_location_never_opens_the_warehouse(reference, rel_server, tmp_path: Path) -> None:
    """Loading what the webserver and the daemon load, while a run holds the warehouse: no DuckDB, no file."""
    empty = tmp_path / "never-created"
    result = subprocess.run(
        [sys.executable, "-c", LOAD_CODE_LOCATION],
        cwd=PROJECT_ROOT,
        env=cli_env(empty, rel_server.base_url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0 and "LOADED" in result.stdout, result.stdout[-2000:] + result.stderr[-3000:]
    assert not empty.exists(), sorted(str(p) for p in empty.rglob("*"))

    data = shutil.copytree(reference.data, tmp_path / "data")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WAREHOUSE, str(data / "warehouse.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "HOLDING"
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", LOAD_CODE_LOCATION],
            cwd=PROJECT_ROOT,
            env=cli_env(data, rel_server.base_url),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0 and "LOADED" in result.stdout, result.stderr[-3000:]
        assert time.monotonic() - started < 120
    finally:
        holder.kill()
        holder.wait()

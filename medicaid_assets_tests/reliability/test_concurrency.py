"""Two runs at once: nothing is corrupted, and the one that cannot go on waits or says why it stopped.

* Two CLI commands on one data dir and one Dagster home: the second stops at once with a clear message (the data
  dir is held by the first, a lock that dies with its process); the first finishes; results equal the reference.
* Two runs of the whole main job launched at once through the instance, as the UI launches them (see
  ``launched``; the project's ``dagster.yaml``: pool ``duckdb``, one slot): both succeed, and their DuckDB steps
  never overlap: each waits for the pool.
* The code location (what the webserver and the daemon load) never opens the warehouse, even while a run holds it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg

from medicaid_assets.cli import BUSY_EXIT_CODE
from medicaid_assets.dagster_kit.ranged_runs import RANGE_TAGS
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.medicaid_spending.keys import monthly_partitions
from medicaid_assets.settings import PROJECT_ROOT, Settings
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
from medicaid_assets_tests.reliability.launched import launcher, step_failures
from medicaid_assets_tests.support.waiting import wait_until

# Steps of the main job that open the warehouse (pool ``duckdb``): warehouse loads and identifier extraction.
MAIN_JOB = build_definitions(Settings.from_env()).resolve_job_def(main_job.name)
DUCKDB_STEPS = {n.name for n in MAIN_JOB.graph.nodes if n.definition.pool == "duckdb"}


def _both(command: list[str], data: Path, home: Path, base: str):
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: run_cli(command, data, home, base), range(2)))
    STATS.add("concurrent_runs", 2)
    return sorted(runs, key=lambda r: r.returncode)


def test_two_cli_commands_at_once_on_one_data_dir(reference, rel_server, tmp_path: Path) -> None:
    """Two ``build-datasets`` at once (every writing command takes the data dir's lock the same way, first thing)."""
    data = shutil.copytree(reference.sourced, tmp_path / "data")
    home = new_home(tmp_path / "home")
    first, second = _both(["build-datasets", *FAST_BUILD], data, home, rel_server.base_url)
    assert first.returncode == 0, first.tail()
    assert second.returncode in (0, BUSY_EXIT_CODE), second.tail()
    if second.returncode == BUSY_EXIT_CODE:
        assert "another medicaid-assets command is using" in second.stderr and str(data) in second.stderr
        assert "nothing was changed" in second.stderr
        said = next(line for line in second.stderr.splitlines() if "another medicaid-assets" in line)
        STATS.note(f"concurrent build-datasets: the second stopped at once: {said[:200]}")
    assert check_state(data, finished=True) == []
    assert raw_digest(data) == reference.raw
    assert warehouse_digest(data / "warehouse.duckdb") == reference.warehouse
    assert compare_rows(outputs(data, rel_server.base_url), reference.outputs) == {}


def _windows(instance: dg.DagsterInstance, run_id: str) -> dict[str | None, tuple[float, float]]:
    """(start, end) of ``run_id`` (key None) and of each of its DuckDB steps."""
    starts, ends = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or (event.step_key is not None and event.step_key not in DUCKDB_STEPS):
            continue
        if event.event_type_value in ("STEP_START", "PIPELINE_START"):
            starts[event.step_key] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE", "PIPELINE_SUCCESS", "PIPELINE_FAILURE"):
            ends[event.step_key] = record.timestamp
    return {k: (starts[k], ends[k]) for k in starts if k in ends}


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


# Each run executes its steps in its run worker. What matters here is how two runs share pool ``duckdb``, which
# steps claim through the instance under either executor; one process per step would cost ~5 s each (32 steps).
# The multiprocess executor is covered by defs/medicaid_spending/test_multiprocess.py.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
# The whole chain for the latest spending month: submitting a run over all 84 months first writes ~1,400 planned
# events (see ranged_runs), 15-40 s per run here, and adds nothing to what two runs at once can break.
LATEST_MONTH = {tag: monthly_partitions.get_last_partition_key() for tag in RANGE_TAGS}


def _waited(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether a step of ``run_id`` has reported waiting for pool ``duckdb``."""
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    return any("blocked by limit for pool duckdb" in (r.user_message or "") for r in events)


def test_two_main_job_runs_launched_at_once_through_the_instance(reference, rel_server, tmp_path: Path) -> None:
    """The main job launched twice at once, as the UI launches it (code server, a run worker each), on one data dir
    where ``download`` has run. A third party (another run, the CLI) holds pool ``duckdb`` until both runs wait for
    it, so they contend for certain; then both succeed, and their DuckDB steps never overlap. No slot stays
    claimed, and the raw files, tables and outputs equal the reference's."""
    data = shutil.copytree(reference.sourced, tmp_path / "data")
    home = new_home(tmp_path / "home")
    with launcher(data, home, rel_server.base_url) as runs:
        storage = runs.instance.event_log_storage
        storage.initialize_concurrency_limit_to_default("duckdb")  # one slot, from the project's dagster.yaml
        assert storage.claim_concurrency_slot("duckdb", "third-party", "holding-the-warehouse").is_claimed
        run_ids = [runs.submit(tags=LATEST_MONTH, run_config=IN_PROCESS) for _ in range(2)]
        for run_id in run_ids:  # both queued, then dequeued back to back, as the daemon does with a queue of two
            runs.start(run_id)
        STATS.add("concurrent_runs", 2)
        wait_until(
            lambda: all(_waited(runs.instance, run_id) for run_id in run_ids), "the runs to wait for pool duckdb"
        )
        storage.free_concurrency_slot_for_step("third-party", "holding-the-warehouse")
        ended = [runs.wait(run_id) for run_id in run_ids]
        failures = {run_id: step_failures(runs.instance, run_id) for run_id in run_ids}
        assert [r.status for r in ended] == [dg.DagsterRunStatus.SUCCESS] * 2, failures
        a, b = (_windows(runs.instance, run_id) for run_id in run_ids)
        assert storage.get_concurrency_info("duckdb").claimed_slots == []
    assert _overlap(a.pop(None), b.pop(None)), "the two runs did not run at the same time"
    assert set(a) == set(b) == DUCKDB_STEPS
    overlaps = [(x, y) for x, s in a.items() for y, t in b.items() if _overlap(s, t)]
    assert overlaps == [], f"DuckDB steps of the two runs overlapped: {overlaps}"
    assert check_state(data, finished=True) == []
    assert raw_digest(data) == reference.raw
    assert warehouse_digest(data / "warehouse.duckdb") == reference.warehouse
    assert compare_rows(outputs(data, rel_server.base_url), reference.outputs) == {}


LOAD_CODE_LOCATION = textwrap.dedent(
    """
    import importlib, os, sys, warnings
    warnings.simplefilter("ignore")
    import duckdb

    def refuse(*args, **kwargs):
        raise AssertionError(f"the code location opened DuckDB: {args}")

    duckdb.connect = refuse
    import dagster as dg
    from dagster._core.remote_representation.external_data import RepositorySnap
    import medicaid_assets.definitions as location
    from medicaid_assets.defs.reference.nppes.sensors import nppes_weekly_sensor

    for data_dir in sys.argv[1:]:  # the location as the code server loads it for each data dir
        os.environ["MEDICAID_DATA_DIR"] = data_dir
        importlib.reload(location)
        defs = location.defs()  # what Dagster tools load: the @dg.definitions function
        repo = defs.get_repository_def()
        RepositorySnap.from_def(repo)  # what the code server hands the webserver
        for job in repo.get_all_jobs():
            job.get_job_snapshot()
        with dg.instance_for_test() as instance:  # what the daemon does with the sensor
            resources = {k: v for k, v in defs.resources.items() if k in ("files", "sources")}
            nppes_weekly_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        print("LOADED", data_dir, flush=True)
    """
)
HOLD_WAREHOUSE = textwrap.dedent(
    """
    import sys, duckdb
    conn = duckdb.connect(sys.argv[1])
    conn.execute("BEGIN; DELETE FROM spending WHERE false")
    print("HOLDING", flush=True)
    sys.stdin.read()  # until the test is done
    """
)


def test_the_code_location_never_opens_the_warehouse(reference, rel_server, tmp_path: Path) -> None:
    """Loading what the webserver and the daemon load, with no data dir at all (nothing is created), and while a
    run holds the warehouse (nothing waits for it): DuckDB is never opened."""
    empty = tmp_path / "never-created"
    data = shutil.copytree(reference.data, tmp_path / "data")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WAREHOUSE, str(data / "warehouse.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "HOLDING"
        result = subprocess.run(
            [sys.executable, "-c", LOAD_CODE_LOCATION, str(empty), str(data)],
            cwd=PROJECT_ROOT,
            env=cli_env(empty, rel_server.base_url),
            capture_output=True,
            text=True,
            timeout=180,  # a load waiting for the warehouse would wait for ever
        )
    finally:
        holder.communicate("")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stdout.split() == ["LOADED", str(empty), "LOADED", str(data)]
    assert not empty.exists(), sorted(str(p) for p in empty.rglob("*"))

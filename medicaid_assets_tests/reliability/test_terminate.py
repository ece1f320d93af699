"""Terminating a run through the instance (the UI's Terminate button) while the lookups wait on a slow API.

The run is launched as the UI launches it (code server, run worker, one process per step; see ``launched``) and
terminated mid-resolution; then the resolution assets run again on the same data dir and instance. The run ends
CANCELED and the next one asks only what is still unsettled and ends with an uninterrupted run's outputs; requests in
flight at the termination finish and are committed, both caches are recorded and the mappings hold every answer.

A stop request alone (the run marked ``CANCELING`` through the instance, with no interrupt sent to any process) is
seen by the lookups in their own step process through ``RunControlResource``: they stop gracefully too.
(Ctrl-C in the CLI: ``defs/reference/resolution/test_resolution.py``.)
"""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.defs.reference.resolution.keys import HCPCS_CACHE, NPI_CACHE
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets_tests.reliability.harness import (
    STATS,
    asked,
    cache_settled,
    check_state,
    compare_rows,
    fetched_ok,
    new_home,
    outputs,
)
from medicaid_assets_tests.reliability.inprocess import Pipeline, failure_text, settings
from medicaid_assets_tests.reliability.launched import Launcher, launcher, step_failures
from medicaid_assets_tests.support.waiting import wait_until

# Every API answer this late, at the code location's default pacing (2 requests/s, 2 in flight): when the run is
# terminated, requests are in flight and most NPIs are still to be asked.
SLOW_SECONDS = 2.0


@dataclass
class Terminated:
    """What a run terminated mid-resolution left, and the run after it."""

    data: Path
    status: dg.DagsterRunStatus
    failures: dict[str, list[str]]
    recorded: set[dg.AssetKey]  # assets the terminated run materialized
    problems: list[str]  # check_state right after it
    in_flight: list[dict]  # request log entries of requests started before the termination, answered after it
    first: list[dict]  # the request log of the terminated run
    settled: dict[str, set[str]]  # identifiers committed by then
    mapping: set[str]  # NPIs in npi_provider_mapping.csv by then
    resumed_ok: bool  # the next run succeeded ...
    resumed_failures: str  # ... or failed with these
    resumed: list[dict]  # its request log
    progress: list[str]  # the lookups' progress lines in the terminated run's log


def progress_lines(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The lookups' progress lines (``ProgressResource``) in ``run_id``'s log."""
    messages = [record.user_message for record in instance.all_logs(run_id)]
    return [m for m in messages if m.startswith(("NPI Registry:", "Clinical Tables:")) and " identifiers, " in m]


@contextmanager
def lookups_under_way(
    reference, rel_server: WorldServer, root: Path, seed: int
) -> Iterator[tuple[Path, Path, Launcher, str, Callable[[], list[dict]]]]:
    """The reference's sourced data dir with its identifier sets, an API answering every request slowly, and a run
    of both caches launched as the UI launches it: ``(data, home, launcher, run id, request log)`` once the lookups
    are under way. The faults are cleared afterwards."""
    data = shutil.copytree(reference.sourced, root / "data")
    # The identifier sets, as their steps left them (stored by the parquet IO manager under <data>/assets).
    shutil.copytree(reference.data / "assets", data / "assets", dirs_exist_ok=True)
    home = new_home(root / "home")
    world = WorldControl(rel_server.base_url)
    world.clear_requests()
    world.set_faults(rate=1.0, kinds=["slow"], scope="api", seed=seed, slow_seconds=SLOW_SECONDS)
    log = rel_server.world.entries

    def answered(api: str) -> int:
        return sum(1 for e in log() if e["api"] == api)

    try:
        with launcher(data, home, rel_server.base_url) as runs:
            run_id = runs.submit([NPI_CACHE, HCPCS_CACHE])
            runs.start(run_id)
            wait_until(lambda: answered("hcpcs") >= 1 and answered("npi") >= 2, "the lookups to be under way")
            yield data, home, runs, run_id, log
    finally:
        world.clear_faults()


@pytest.fixture(scope="module")
def terminated(reference, rel_server: WorldServer, tmp_path_factory: pytest.TempPathFactory) -> Terminated:
    root = tmp_path_factory.mktemp("terminated")
    with lookups_under_way(reference, rel_server, root, seed=5) as (data, home, runs, run_id, log):
        before, terminated_at = {e["seq"] for e in log()}, time.time()
        assert runs.terminate(run_id) == "TerminateRunSuccess"
        run = runs.wait(run_id)
        materialized = runs.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        failures = step_failures(runs.instance, run_id)
        progress = progress_lines(runs.instance, run_id)
    STATS.add("graceful_stops")
    first = log()
    with DataLayout(data).npi_mapping.open(newline="", encoding="utf-8") as fh:
        mapping = {row["npi"] for row in csv.DictReader(fh)}
    problems, settled = check_state(data, finished=True), cache_settled(data)
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the next run, on the same instance
        pipeline = Pipeline(settings(data, rel_server.base_url), instance)
        resumed_ok = pipeline.build()
        resumed_failures = "" if resumed_ok else failure_text(pipeline.last)
    return Terminated(
        data=data,
        status=run.status,
        failures=failures,
        recorded={r.dagster_event.asset_key for r in materialized},
        problems=problems,
        in_flight=[e for e in first if e["api"] == "npi" and e["time"] < terminated_at and e["seq"] not in before],
        first=first,
        settled=settled,
        mapping=mapping,
        resumed_ok=resumed_ok,
        resumed_failures=resumed_failures,
        resumed=[e for e in log() if e["seq"] > max(e["seq"] for e in first)],
        progress=progress,
    )


def test_a_run_terminated_mid_resolution_is_canceled_and_the_next_run_resumes(
    terminated: Terminated, reference, rel_server: WorldServer
) -> None:
    assert terminated.status == dg.DagsterRunStatus.CANCELED
    assert terminated.problems == []
    assert terminated.resumed_ok, terminated.resumed_failures
    assert asked(terminated.resumed, "npi"), "the terminated run had asked every NPI: it was not stopped mid-way"
    for api in ("npi", "hcpcs"):
        again = asked(terminated.resumed, api) & terminated.settled[api]
        assert again == set(), f"{api}: asked again after its answer was committed: {sorted(again)}"
    assert compare_rows(outputs(terminated.data, rel_server.base_url), reference.outputs) == {}


def test_requests_in_flight_at_the_termination_finish_and_are_recorded(terminated: Terminated) -> None:
    assert terminated.failures == {}, terminated.failures
    assert terminated.recorded == {NPI_CACHE, HCPCS_CACHE}
    assert terminated.in_flight, "nothing was in flight when the run was terminated"
    for entry in terminated.in_flight:
        assert entry["status"] == 200 and entry["identifiers"] in terminated.settled["npi"], entry
    assert set(fetched_ok(terminated.first, "npi")) <= terminated.mapping
    answers = fetched_ok(terminated.first + terminated.resumed, "npi")
    assert len(answers) == len(set(answers)), "an NPI was answered twice: an answer in flight was lost"


def test_the_lookups_report_progress_in_the_log_of_a_multiprocess_run(terminated: Terminated) -> None:
    assert any(line.startswith("NPI Registry:") for line in terminated.progress), terminated.progress
    assert any(line.startswith("Clinical Tables:") for line in terminated.progress), terminated.progress


@dataclass
class StopRequested:
    """What a run marked ``CANCELING`` mid-resolution (no interrupt) did."""

    status: dg.DagsterRunStatus
    failures: dict[str, list[str]]
    metadata: dict[dg.AssetKey, dict]  # the materializations' metadata
    log: list[dict]  # the request log of the run
    requested_at: float
    before: set[int]  # sequence numbers of the requests answered before the stop request
    settled: dict[str, set[str]]  # identifiers committed when the run ended


@pytest.fixture(scope="module")
def stop_requested(reference, rel_server: WorldServer, tmp_path_factory: pytest.TempPathFactory) -> StopRequested:
    root = tmp_path_factory.mktemp("stop_requested")
    with lookups_under_way(reference, rel_server, root, seed=7) as (data, _, runs, run_id, log):
        # What the UI's Terminate does first, and the CLI's first Ctrl-C: the run's status becomes CANCELING.
        # No signal reaches the run worker or the step process: only the resource can see this.
        before, requested_at = {e["seq"] for e in log()}, time.time()
        runs.instance.report_run_canceling(runs.instance.get_run_by_id(run_id))
        run = runs.wait(run_id, timeout=60)  # lookups left running would take minutes at this pace
        records = runs.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        failures = step_failures(runs.instance, run_id)
    return StopRequested(
        status=run.status,
        failures=failures,
        metadata={
            r.dagster_event.asset_key: {k: v.value for k, v in r.asset_materialization.metadata.items()}
            for r in records
        },
        log=log(),
        requested_at=requested_at,
        before=before,
        settled=cache_settled(data),
    )


def test_a_stop_request_alone_stops_the_lookups_of_a_multiprocess_run_gracefully(
    stop_requested: StopRequested,
) -> None:
    assert stop_requested.failures == {}, stop_requested.failures
    assert set(stop_requested.metadata) == {NPI_CACHE, HCPCS_CACHE}
    for key, metadata in stop_requested.metadata.items():
        assert metadata["stopped_early"] is True, (key, metadata)
    npi = [e for e in stop_requested.log if e["api"] == "npi"]
    late = [e for e in npi if e["time"] > stop_requested.requested_at + 2.0]  # seen within ~0.7 s
    assert late == [], "NPI requests kept starting after the stop request"
    in_flight = [e for e in npi if e["time"] < stop_requested.requested_at and e["seq"] not in stop_requested.before]
    assert in_flight, "nothing was in flight when the stop was requested"
    for entry in in_flight:  # asked before the request, answered (slowly) after it: committed
        assert entry["status"] == 200 and entry["identifiers"] in stop_requested.settled["npi"], entry

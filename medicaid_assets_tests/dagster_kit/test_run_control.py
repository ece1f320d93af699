"""Run control as resources: a stop request reaches a step through its run's status, in the front end's process or
any other (the multiprocess case: ``reliability/test_terminate.py``)."""

import io
import os
import signal
import threading
import time

import dagster as dg
from rich.console import Console

from medicaid_assets.cli.terminal import graceful_ctrl_c
from medicaid_assets.core.fetcher import FetchProgress
from medicaid_assets.dagster_kit.recovery import process_tag
from medicaid_assets.dagster_kit.run_control import ProgressResource, RunControlResource

WAIT_SECONDS = 30.0


@dg.asset
def waits_for_a_stop(context: dg.AssetExecutionContext, run_control: RunControlResource) -> dg.MaterializeResult:
    """Works until its run is asked to stop (or gives up), and says how long that took."""
    watch, started = run_control.watch(context), time.monotonic()
    while not watch.requested() and time.monotonic() - started < WAIT_SECONDS:
        time.sleep(0.05)
    return dg.MaterializeResult(metadata={"stopped": watch.requested(), "seconds": time.monotonic() - started})


def test_the_first_ctrl_c_stops_the_runs_of_the_process_through_their_status() -> None:
    """The CLI's handler (outside Dagster's own, which only the main thread installs) marks this process's runs
    CANCELING; the step sees it through ``RunControlResource`` and ends normally."""
    defs = dg.Definitions(
        assets=[waits_for_a_stop],
        jobs=[dg.define_asset_job("stoppable")],
        resources={"run_control": RunControlResource()},
    )
    job = defs.resolve_job_def("stoppable")
    results: list[dg.ExecuteInProcessResult] = []
    with dg.instance_for_test() as instance:

        def execute() -> None:
            results.append(job.execute_in_process(instance=instance, tags=process_tag()))

        console = Console(file=io.StringIO())
        with graceful_ctrl_c(console, instance) as stop:
            worker = threading.Thread(target=execute)
            worker.start()
            deadline = time.monotonic() + WAIT_SECONDS
            while not instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
                assert time.monotonic() < deadline, "the run did not start"
                time.sleep(0.05)
            asked_at = time.monotonic()
            os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C
            worker.join(WAIT_SECONDS + 5)
        assert stop.requested and "stopping" in console.file.getvalue()
        (result,) = results
        assert result.success
        (event,) = result.get_asset_materialization_events()
        metadata = event.materialization.metadata
        assert metadata["stopped"].value is True
        assert time.monotonic() - asked_at < 5  # polled every 0.5 s, marked from a thread every 0.5 s


@dg.asset
def reports_progress(context: dg.AssetExecutionContext, run_control: RunControlResource, progress: ProgressResource):
    report = progress.lookup(context, "API")
    for done in range(3):
        report(FetchProgress(done=done + 1, total=3, failed=0, requests=done + 1, round=1, elapsed_seconds=1.0))
    return run_control.stop_requested(context)


def test_progress_reaches_the_attached_sink_and_a_run_not_asked_to_stop_is_not_stopped() -> None:
    seen: list[tuple[str, int]] = []
    plain = ProgressResource(every_seconds=0)
    resources = {
        "run_control": RunControlResource(),
        "progress": plain.with_sink(lambda label, p: seen.append((label, p.done))),
    }
    result = dg.materialize([reports_progress], resources=resources)
    assert result.output_for_node("reports_progress") is False
    assert seen == [("API", 1), ("API", 2), ("API", 3)]
    assert dg.materialize([reports_progress], resources={**resources, "progress": plain}).success
    assert len(seen) == 3  # with_sink left the original without a sink

"""What the commands add to a run: live bars, graceful Ctrl-C, summaries, the sample world on loopback."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from medicaid_assets.cli.runner import DAGSTER_HOME, Runner
from medicaid_assets.core.fetcher import FetchProgress
from medicaid_assets.dagster_kit.progress import ProgressSink
from medicaid_assets.dagster_kit.recovery import process_tag
from medicaid_assets.dagster_kit.run_control import request_stop
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.settings import Settings

WORLD_PORT = 8765  # one fixed port: the files' URLs (and so the reuse of what was downloaded) stay the same


@contextmanager
def live_bars(console: Console) -> Iterator[ProgressSink]:
    """One live bar per API (done/total, elapsed, rate, ETA) while lookups run in this process: pass the sink it
    yields to ``build_definitions(..., progress_sink=...)``."""
    progress = Progress(
        TextColumn("{task.description:16s}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, int] = {}

    def sink(label: str, p: FetchProgress) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=p.total, rate="")
        progress.update(tasks[label], completed=p.done, total=p.total, rate=f"{p.rate:7.1f}/s {p.requests:,} req")

    with progress:
        yield sink


class StopRequest:
    """What the first Ctrl-C asked: ``requested`` once pressed (then every run this process starts is stopped)."""

    def __init__(self) -> None:
        self.pressed = threading.Event()

    @property
    def requested(self) -> bool:
        return self.pressed.is_set()


def _stop_runs_of_this_process(instance: dg.DagsterInstance, stop: StopRequest, done: threading.Event) -> None:
    """After the first Ctrl-C, mark this process's runs ``CANCELING`` (Dagster's own stop signal, which the steps
    watch through ``RunControlResource``), and each run it starts later too, until the command ends."""
    while not stop.pressed.wait(0.2):
        if done.is_set():
            return
    filters = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags=process_tag())
    while not done.is_set():
        for run in instance.get_runs(filters=filters):
            request_stop(instance, run, "Ctrl-C in the terminal")
        done.wait(0.5)


@contextmanager
def graceful_ctrl_c(console: Console, instance: dg.DagsterInstance) -> Iterator[StopRequest]:
    """First Ctrl-C: finish requests in flight, keep the caches, write the outputs. Second: stop now.

    While a step runs in this process, Dagster's own handler takes the signal and interrupts the step (the lookups
    handle that gracefully). Anywhere else (between runs and their parts), this handler takes it: it marks the runs
    of this process ``CANCELING`` through ``instance``, from a thread (a signal handler must not re-enter the
    instance's storage), as the UI's Terminate does first, and every run started after it too."""
    stop, done = StopRequest(), threading.Event()

    def handler(signum, frame) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.pressed.set()
        console.print(
            "[yellow]stopping: requests in flight finish, caches and outputs are written "
            "(Ctrl-C again to abort)[/yellow]"
        )

    watcher = threading.Thread(target=_stop_runs_of_this_process, args=(instance, stop, done), daemon=True)
    previous = signal.signal(signal.SIGINT, handler)
    watcher.start()
    try:
        yield stop
    finally:
        done.set()
        signal.signal(signal.SIGINT, previous)
        watcher.join()


def stopped_early(runner: Runner) -> bool:
    """Whether a run recorded work it stopped before the end (``stopped_early``: the lookups, stopped by Ctrl-C
    inside a run, where Dagster's own handler turns it into an interrupt of the step, or by a stop request)."""
    for result in runner.results:
        for event in result.get_asset_materialization_events():
            value = event.materialization.metadata.get("stopped_early")
            if value is not None and value.value is True:
                return True
    return False


def finish(
    runner: Runner, console: Console, home: Path, started: float, stop: StopRequest, summary: Callable[[], None]
) -> int:
    """``summary``'s lines, the runs' outcome, where the instance is and how to open the UI; the exit code."""
    ok = all(r.success for r in runner.results)
    summary()
    status = "[green]succeeded[/green]" if ok else "[red]FAILED[/red] (see the run in the UI)"
    console.print(f"{len(runner.results)} run(s) {status} in {time.monotonic() - started:.0f}s")
    console.print(f"  Dagster instance:  {home}")
    console.print("  open the UI:       ./run ui   then browse http://127.0.0.1:3000 (these runs are under Runs)")
    if stop.requested or stopped_early(runner):
        console.print("[yellow]stopped early: run the same command again to resume where it stopped[/yellow]")
        return 130
    return 0 if ok else 1


@contextmanager
def serve_world(world_dir: Path, port: int, console: Console) -> Iterator[WorldServer]:
    """The sample world on ``port``, or on a free port (saying what that costs) when another process holds it.

    Downloads are reused only from the same URL, so the same port on every run is what makes a second run
    with nothing new reuse the files and skip the spending months."""
    try:
        server = WorldServer(world_dir, port=port).start()
    except OSError as exc:
        console.print(f"port {port} is busy ({exc.strerror}): serving on a free port; files will be fetched again")
        server = WorldServer(world_dir).start()
    try:
        yield server
    finally:
        server.stop()


def settings_from_flags(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides = {
        "spending_url": getattr(args, "medicaid_url", None),
        "nppes_monthly_url": getattr(args, "nppes_monthly_url", None),
        "nppes_weekly_url": getattr(args, "nppes_weekly_url", None),
        "cpt_index_url": getattr(args, "cpt_index_url", None),
        "cpt_zip_urls": tuple(args.cpt_zip_url) if getattr(args, "cpt_zip_url", None) else None,
        "npi_api_url": getattr(args, "npi_api_url", None),
        "hcpcs_api_url": getattr(args, "hcpcs_api_url", None),
    }
    return dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v})


def add_dagster_home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dagster-home", type=Path, default=DAGSTER_HOME, help="Dagster instance (default %(default)s)"
    )


def add_world_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world-port", type=int, default=WORLD_PORT, help="sample-world server port (%(default)s)")
    parser.add_argument("--seed", type=int, default=WorldSpec.seed)
    parser.add_argument("--scale", type=float, default=WorldSpec.scale, help="sample-world scale (1.0 = real sizes)")

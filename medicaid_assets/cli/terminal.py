"""What the commands add to a run: live bars, graceful Ctrl-C, summaries, the sample world on loopback."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from medicaid_assets.cli.console_log import console_logger, error_cause
from medicaid_assets.cli.runner import DAGSTER_HOME, Runner
from medicaid_assets.core.fetcher import FetchProgress
from medicaid_assets.dagster_kit.progress import ProgressSink
from medicaid_assets.dagster_kit.recovery import process_tag
from medicaid_assets.dagster_kit.run_control import REMAINING, STOPPED_EARLY, request_stop
from medicaid_assets.definitions import build_definitions
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.settings import Settings

WORLD_PORT = 8765
PARTIAL_TAG = "medicaid_assets/partial"  # on the runs of a stopped command: what was left (the runs list shows it)  # one fixed port: the files' URLs (and so the reuse of what was downloaded) stay the same


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
    """Whether a run recorded work it stopped before the end (metadata ``stopped_early``, the convention of
    :mod:`medicaid_assets.dagster_kit.run_control`: the lookups, stopped by Ctrl-C inside a run, where Dagster's own
    handler turns it into an interrupt of the step, or by a stop request)."""
    return any(_stopped(event) for result in runner.results for event in result.get_asset_materialization_events())


def _stopped(event: dg.DagsterEvent) -> bool:
    value = event.materialization.metadata.get(STOPPED_EARLY)
    return value is not None and value.value is True


def remaining(runner: Runner) -> int:
    """What the stopped work left to do (metadata ``remaining`` of the materializations that stopped early)."""
    total = 0
    for result in runner.results:
        for event in result.get_asset_materialization_events():
            value = event.materialization.metadata.get(REMAINING)
            total += int(value.value) if _stopped(event) and value is not None else 0
    return total


def failure_causes(runner: Runner) -> list[str]:
    """One line per failed step: the step and the innermost cause of its error (what failed, what to do)."""
    causes = []
    for result in runner.results:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data.error is not None:
                causes.append(f"{event.step_key}: {error_cause(event.step_failure_data.error)}")
    return causes


def resume_command(args: argparse.Namespace) -> str:
    """The command line that resumes a stopped command: the same flags, without those that start over."""
    start_over = set(getattr(args, "start_over", ()))
    kept = [arg for arg in getattr(args, "argv", [args.command]) if arg not in start_over]
    return " ".join(["./run", "medicaid-assets", *map(shlex.quote, kept)])


def finish(
    runner: Runner,
    console: Console,
    args: argparse.Namespace,
    started: float,
    stop: StopRequest,
    summary: Callable[[], None],
) -> int:
    """How the runs ended and the exit code: 0 all succeeded, 1 one failed, 130 stopped early.

    Succeeded or stopped: ``summary``'s lines (results as they stand), where the instance is, how to open the UI.
    Failed: the cause of each failure in a line, and no results (those on disk are from earlier runs). Stopped: what
    is left, the runs tagged so the runs list shows it, and the command that resumes."""
    ok = all(r.success for r in runner.results)
    stopped = stop.requested or stopped_early(runner)
    elapsed = f"{time.monotonic() - started:.0f}s"
    if not ok:
        for cause in failure_causes(runner):
            console.print(f"[red]failed:[/red] {escape(cause)}", highlight=False)
        console.print(
            f"{len(runner.results)} run(s) [red]FAILED[/red] in {elapsed}: nothing was changed by the step(s) that failed"
        )
        console.print(
            f"  the whole log: the run in the UI ({ui_command(args)}, under Runs), or {resume_command(args)} --verbose"
        )
    else:
        summary()
        if stopped:
            left = remaining(runner)
            for result in runner.results:
                runner.instance.add_run_tags(result.run_id, {PARTIAL_TAG: f"stopped early: {left:,} left"})
            console.print(
                f"{len(runner.results)} run(s) [yellow]stopped early[/yellow] in {elapsed}: {left:,} identifier(s) "
                "left to resolve; every output was written from what was resolved"
            )
        else:
            console.print(f"{len(runner.results)} run(s) [green]succeeded[/green] in {elapsed}")
        console.print(f"  Dagster instance:  {args.dagster_home}")
        console.print(
            f"  open the UI:       {ui_command(args)}   then browse http://127.0.0.1:3000 (these runs are under Runs)"
        )
    if stopped:
        console.print(f"[yellow]to resume where it stopped:[/yellow] {escape(resume_command(args))}", highlight=False)
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
    """The options of every command that runs assets: the instance, and how much of the log to print."""
    parser.add_argument(
        "--dagster-home", type=Path, default=DAGSTER_HOME, help="Dagster instance (default %(default)s)"
    )
    parser.add_argument("--verbose", action="store_true", help="print failures with their whole stack trace")


def command_definitions(settings: Settings, console: Console, args: argparse.Namespace, **options) -> dg.Definitions:
    """The definitions a command runs: ``settings``' resources (``options`` as for ``build_definitions``), and
    Dagster's log printed on ``console`` (one console for the log and the live bars)."""
    logger = console_logger(console, verbose=getattr(args, "verbose", False))
    return build_definitions(settings, loggers={"console": logger}, **options)


def add_world_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--world-port",
        type=int,
        default=WORLD_PORT,
        help="sample-world server port (%(default)s); the same port on every run lets downloads be reused",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=WorldSpec.seed,
        help="sample-world seed (%(default)s): the same seed makes the same files, identifiers and API answers",
    )
    parser.add_argument("--scale", type=float, default=WorldSpec.scale, help="sample-world scale (1.0 = real sizes)")


# The commands that reach the sources say so in their help: by default they download the real files.
REAL_SOURCES_HELP = """Without URL flags or MEDICAID_* variables this reaches the real public endpoints (HHS, CMS, NLM): the spending
file alone is about 3 GB, and the NPI lookups take hours at the polite default pace. To try it offline, run
`./run demo` (everything on a sample world on loopback), or serve the sample world with `./run sample-world
serve` and export the MEDICAID_* variables it prints, then run this command."""


def sources_description(what: str) -> str:
    """A command's help description: ``what`` it does (wrapped), then :data:`REAL_SOURCES_HELP`."""
    return f"{textwrap.fill(what, 110)}\n\n{REAL_SOURCES_HELP}"


def ui_command(args: argparse.Namespace) -> str:
    """How to open the UI on the world this command used (its port, when not the default)."""
    port = getattr(args, "world_port", WORLD_PORT)
    return "./run ui" if port == WORLD_PORT else f"./run ui --world-port {port}"

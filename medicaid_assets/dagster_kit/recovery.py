"""Runs whose process died (SIGKILL, OOM killer, power loss) are ended, and their pool slots given back.

The CLI executes runs in its own process (``execute_in_process``), and those runs claim concurrency-pool slots in
the instance like any other (pool ``duckdb`` has one slot). A process killed in the middle of a step never frees
its slot, its run stays ``STARTED`` for ever, and no daemon frees the slots of a run that never ended: every later
step of pool ``duckdb`` (the CLI's, the UI's) would wait for ever. So each CLI run is tagged with its process, and
before running anything the CLI marks the runs of dead processes failed and frees their slots.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import dagster as dg

# Hidden (Dagster's ``.dagster/`` prefix: the UI's runs list does not show it): it is bookkeeping, not a label.
PROCESS_TAG = ".dagster/medicaid_assets/process"
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for the original."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_tag() -> dict[str, str]:
    """The tag that names this process: ``host:pid:start``."""
    pid = os.getpid()
    return {PROCESS_TAG: f"{socket.gethostname()}:{pid}:{_start_time(pid)}"}


def process_is_alive(tag: str) -> bool:
    """False only when ``tag``'s process is certainly gone (same host, and no such pid, or a reused one)."""
    parts = tag.split(":")
    host, pid, start = ":".join(parts[:-2]), parts[-2] if len(parts) > 2 else "", parts[-1]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or _start_time(int(pid)) in ("", start)


def end_dead_runs(instance: dg.DagsterInstance, log: Callable[[str], None] = print) -> list[str]:
    """Mark unfinished runs of dead CLI processes failed, free their slots and those of finished runs; returns ids."""
    ended = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        tag = run.tags.get(PROCESS_TAG)
        if tag is None or process_is_alive(tag):
            continue
        instance.report_run_failed(
            run, message=f"the process that ran it ({tag}) is gone (killed or crashed); marked failed, slots freed"
        )
        ended.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        holders = list(storage.get_concurrency_run_ids())
        done = []
        if holders:
            finished = dg.RunsFilter(run_ids=holders, statuses=FINISHED)
            done = [r.dagster_run.run_id for r in instance.get_run_records(filters=finished)]
        for run_id in sorted({*ended, *done}):
            storage.free_concurrency_slots_for_run(run_id)
    if ended:
        log(f"ended {len(ended)} run(s) left unfinished by a process that died: {', '.join(ended)}")
    return ended

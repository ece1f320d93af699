"""Run control as resources, not process globals: a stop request and a progress sink that work in every executor.

A stop is Dagster's own signal: the run's status turning ``CANCELING`` (the UI's Terminate, the CLI's first Ctrl-C,
or anything that calls ``DagsterInstance.report_run_canceling``). Each step asks the instance for its run's status,
so it sees the request whether it runs in the front end's process, in a run worker, or in a process of its own.
Progress goes to ``context.log`` (every executor), and also to a sink a front end attaches when the steps run in its
own process (the CLI's live bars): ``ProgressResource().with_sink(fn)``.
"""

import time

import dagster as dg
from pydantic import PrivateAttr

from medicaid_assets.dagster_kit.progress import LookupProgress, ProgressSink

STOPPING = (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED)
# Materialization metadata of work that stopped gracefully before its end (front ends say so, and what is left).
STOPPED_EARLY = "stopped_early"  # True when the step stopped before finishing its work
REMAINING = "remaining"  # how many items (identifiers, files, ...) it left for the next run


class StopWatch:
    """``requested()``: has the run been asked to stop? Asks the instance at most every ``poll_seconds``."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, poll_seconds: float) -> None:
        self.instance, self.run_id, self.poll_seconds = instance, run_id, poll_seconds
        self.asked_at = float("-inf")
        self.stopping = False

    def requested(self) -> bool:
        now = time.monotonic()
        if not self.stopping and now - self.asked_at >= self.poll_seconds:
            self.asked_at = now
            run = self.instance.get_run_by_id(self.run_id)
            self.stopping = run is not None and run.status in STOPPING
        return self.stopping


class RunControlResource(dg.ConfigurableResource):
    """Whether the run is being stopped (its status ``CANCELING``), for work that can stop gracefully."""

    poll_seconds: float = 0.5  # how often a step asks the instance for its run's status

    def watch(self, context: dg.AssetExecutionContext | dg.OpExecutionContext) -> StopWatch:
        return StopWatch(context.instance, context.run.run_id, self.poll_seconds)

    def stop_requested(self, context: dg.AssetExecutionContext | dg.OpExecutionContext) -> bool:
        return StopWatch(context.instance, context.run.run_id, 0).requested()


def request_stop(instance: dg.DagsterInstance, run: dg.DagsterRun, why: str) -> None:
    """Ask ``run`` to stop gracefully, as the UI's Terminate does first: its status becomes ``CANCELING``."""
    if run.status == dg.DagsterRunStatus.STARTED:
        instance.report_run_canceling(run, message=f"Stop requested: {why}")


class ProgressResource(dg.ConfigurableResource):
    """Progress of long lookups: a line in the step's log every ``every_seconds`` (and at the end), and every update
    to the sink a front end attached with :meth:`with_sink` when it executes the steps in its own process.

    Code locations served to the UI have no sink, and a step process of its own never gets one.
    """

    every_seconds: float = 10.0
    _sink: ProgressSink | None = PrivateAttr(default=None)

    def with_sink(self, sink: ProgressSink) -> dg.ResourceDefinition:
        """This resource reporting to ``sink(label, progress)`` too, as a resource definition for the front end's
        own definitions (Dagster builds a configurable resource anew for each run, which would drop the sink; a
        hardcoded one is passed as it is). The original is unchanged."""
        copy = self.model_copy()
        copy._sink = sink
        return dg.ResourceDefinition.hardcoded_resource(copy, "lookup progress, also shown by the front end")

    def lookup(self, context: dg.AssetExecutionContext | dg.OpExecutionContext, label: str) -> LookupProgress:
        return LookupProgress(context.log, label, self.every_seconds, self._sink)

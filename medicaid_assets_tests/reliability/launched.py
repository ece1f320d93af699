"""Runs launched and terminated through the Dagster instance the way the UI does it, not ``execute_in_process``.

The project's code location is served by a real code server (``dagster api grpc``) whose environment points at the
sample world; a run is submitted with the webserver's own GraphQL mutation, dequeued as the daemon dequeues it
(``instance.launch_run``: the instance's ``DefaultRunLauncher`` asks the code server to start a run worker process,
whose multiprocess executor starts one process per step), and terminated with the mutation behind the UI's
Terminate button. The instance is a persistent one configured by the project's ``dagster.yaml`` (pool ``duckdb``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import GrpcServerTarget
from dagster._grpc.client import DagsterGrpcClient
from dagster_graphql.client.client_queries import CLIENT_SUBMIT_PIPELINE_RUN_MUTATION as SUBMIT
from dagster_graphql.client.client_queries import TERMINATE_RUN_JOB_MUTATION as TERMINATE
from dagster_graphql.test.utils import execute_dagster_graphql

from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.settings import PROJECT_ROOT
from medicaid_assets_tests.reliability.harness import STATS, cli_env
from medicaid_assets_tests.support.ports import free_port
from medicaid_assets_tests.support.waiting import wait_until

LOCATION = "medicaid_assets"
JOB = main_job.name


@contextmanager
def code_server(data: Path, home: Path, base_url: str, timeout: float = 120) -> Iterator[int]:
    """The project's code location in a ``dagster api grpc`` process on a free port, its data dir and URLs set.

    Its output, and that of the run workers and step processes it starts, goes to ``home/code-server.log`` (a pipe
    nobody reads would fill up and block every process writing a log line).
    """
    port = free_port()
    args = [sys.executable, "-m", "dagster", "api", "grpc", "--module-name", "medicaid_assets.definitions"]
    args += ["--attribute", "defs", "--location-name", LOCATION, "--host", "127.0.0.1", "--port", str(port)]
    env = cli_env(data, base_url, {"DAGSTER_HOME": str(home)})
    log = home / "code-server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping("ready?")
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the code server did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Launcher:
    """Submit, terminate and wait for runs of the main job through one instance and one code server."""

    def __init__(self, instance: dg.DagsterInstance, workspace: WorkspaceProcessContext) -> None:
        self.instance, self.workspace = instance, workspace

    def _graphql(self, query: str, variables: dict) -> dict:
        result = execute_dagster_graphql(self.workspace.create_request_context(), query, variables)
        assert not result.errors, result.errors
        return result.data

    def submit(
        self,
        keys: Sequence[dg.AssetKey] | None = None,
        tags: dict[str, str] | None = None,
        run_config: dict | None = None,
    ) -> str:
        """Submit the main job (or ``keys`` of it) as the UI's Materialize does; the run waits in the queue."""
        selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "pipelineName": JOB}
        if keys is not None:
            selector["assetSelection"] = [{"path": list(key.path)} for key in keys]
        params = {
            "selector": selector,
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
            "runConfigData": run_config or {},
        }
        answer = self._graphql(SUBMIT, {"executionParams": params})["launchPipelineExecution"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        run_id = answer["run"]["runId"]
        assert self.instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.QUEUED  # the project's coordinator
        return run_id

    def start(self, run_id: str) -> None:
        """Dequeue a submitted run as the daemon does: the run launcher has the code server start its run worker."""
        self.instance.launch_run(run_id, self.workspace.create_request_context())
        STATS.add("launched_runs")

    def terminate(self, run_id: str) -> str:
        """The UI's Terminate button; returns the answer's type (``TerminateRunSuccess`` when it was sent)."""
        return self._graphql(TERMINATE, {"runId": run_id})["terminateRun"]["__typename"]

    def wait(self, run_id: str, timeout: float = 600) -> dg.DagsterRun:
        def finished() -> dg.DagsterRun | None:
            run = self.instance.get_run_by_id(run_id)
            return run if run.is_finished else None

        status = lambda: f"run {run_id} to finish (still {self.instance.get_run_by_id(run_id).status})"  # noqa: E731
        return wait_until(finished, status, timeout=timeout, every=0.2)


@contextmanager
def launcher(data: Path, home: Path, base_url: str) -> Iterator[Launcher]:
    """A :class:`Launcher` on the persistent instance in ``home`` and a code server for ``data`` and the world."""
    with (
        code_server(data, home, base_url) as port,
        dg.DagsterInstance.from_config(str(home)) as instance,
        WorkspaceProcessContext(
            instance, GrpcServerTarget(host="127.0.0.1", port=port, socket=None, location_name=LOCATION)
        ) as workspace,
    ):
        yield Launcher(instance, workspace)


def step_failures(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[str]]:
    """Every step failure of ``run_id``, with its causes, by step key (empty when no step failed)."""
    found: dict[str, list[str]] = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        found.setdefault(event.step_key, []).append(event.step_failure_data.error.to_string())
    return found

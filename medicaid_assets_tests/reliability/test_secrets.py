"""Tokens and keys in the environment never reach logs, metadata, run config, the event log or exception text.

The reference run (``download`` + ``build-datasets``) carried fake secrets (HF token, AWS keys) in its environment;
every byte it left (its stdout/stderr, every file of its data dir and Dagster home, every run's config, tags and
events through the instance API) and the code location's snapshot (what the UI shows, resource config included)
are searched for them. Then the features that *use* them fail on purpose against recording fakes: the token and
the key id must reach the fake (so the test is not vacuous), and still appear nowhere in what the failure left.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest
from dagster_shared.serdes import serialize_value

from medicaid_assets.settings import PROJECT_ROOT
from medicaid_assets_tests.reliability.harness import (
    FAKE_SECRETS,
    STATS,
    cli_env,
    new_home,
    run_cli,
    secret_hits,
)


def _files(root: Path, label: str) -> dict[str, bytes]:
    return {f"{label}/{p.relative_to(root)}": p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _instance_blobs(home: Path) -> dict[str, bytes]:
    blobs = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in instance.get_runs():
            blobs[f"run {run.run_id} config and tags"] = json.dumps([run.run_config, run.tags], default=str).encode()
            blobs[f"run {run.run_id} events"] = serialize_value(list(instance.all_logs(run.run_id))).encode()
    return blobs


def _scan(blobs: dict[str, bytes]) -> list[str]:
    STATS.add("secret_scans", len(blobs))
    return secret_hits(blobs)


SNAPSHOT = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("ignore")
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster_shared.serdes import serialize_value
    import medicaid_assets.definitions as location
    print(serialize_value(RepositorySnap.from_def(location.defs().get_repository_def())))
    """
)


def test_the_scan_finds_a_secret_where_there_is_one() -> None:
    assert secret_hits({"x": b"Authorization: Bearer " + FAKE_SECRETS["HF_TOKEN"].encode()}) == ["x: HF_TOKEN"]


def test_a_full_run_with_secrets_in_its_environment_leaks_none(reference, rel_server, tmp_path: Path) -> None:
    blobs: dict[str, bytes] = {}
    for run in reference.runs:
        blobs[f"{' '.join(run.args[3:5])} stdout"] = run.stdout.encode()
        blobs[f"{' '.join(run.args[3:5])} stderr"] = run.stderr.encode()
    blobs |= _files(reference.data, "data") | _files(reference.home, "dagster_home") | _instance_blobs(reference.home)
    snapshot = subprocess.run(
        [sys.executable, "-c", SNAPSHOT],
        cwd=PROJECT_ROOT,
        env=cli_env(reference.data, rel_server.base_url, FAKE_SECRETS),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert snapshot.returncode == 0, snapshot.stderr[-3000:]
    blobs["code location snapshot (what the UI shows)"] = snapshot.stdout.encode() + snapshot.stderr.encode()
    assert _scan(blobs) == []


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with an authorization failure, and records what it was sent."""

    seen: list[str]

    def _deny(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.seen.append(f"{self.command} {self.path}\n{self.headers}")
        if "amz" in str(self.headers).lower():
            body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
        else:
            body = b'{"error": "Invalid credentials in Authorization header"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _deny

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_failures_of_the_features_that_use_secrets_leak_none(reference, rel_server, recorder, tmp_path) -> None:
    """Publishing to a Hub and mirroring to a bucket that both refuse the credentials: the runs fail, the fakes
    saw the credentials, and no secret is in the output, the files, the run config or the event log."""
    base, seen = recorder
    data = shutil.copytree(reference.data, tmp_path / "data")
    home = new_home(tmp_path / "home")
    env = {**FAKE_SECRETS, "MEDICAID_HF_REPO_ID": "reliability/fake-dataset", "MEDICAID_HF_ENDPOINT": base}
    publish = run_cli(["publish"], data, home, rel_server.base_url, env=env, timeout=300)
    assert publish.returncode != 0, publish.tail()
    hub_requests = list(seen)
    assert any(FAKE_SECRETS["HF_TOKEN"] in r for r in hub_requests), "the Hub fake never saw the token"
    seen.clear()
    storage = {
        **FAKE_SECRETS,
        "MEDICAID_OBJECT_STORE_URL": "s3://reliability-fake-bucket/medicaid",
        "MEDICAID_S3_ENDPOINT_URL": base,
        "MEDICAID_S3_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    mirror = run_cli(["build-datasets", "--skip-api"], data, home, rel_server.base_url, env=storage, timeout=300)
    assert mirror.returncode != 0, mirror.tail()
    assert any(FAKE_SECRETS["AWS_ACCESS_KEY_ID"] in r for r in seen), "the S3 fake never saw the key id"
    blobs = {"publish stdout": publish.stdout.encode(), "publish stderr": publish.stderr.encode()}
    blobs |= {"mirror stdout": mirror.stdout.encode(), "mirror stderr": mirror.stderr.encode()}
    blobs |= _files(data, "data") | _files(home, "dagster_home") | _instance_blobs(home)
    assert _scan(blobs) == []

"""A real Dagster UI on loopback, and headless Chromium to drive it.

``dagster-webserver`` serves ``workspace.yaml`` with a temporary instance and data dir and every source URL on
the session's sample-world server. No daemon: the instance's DefaultRunCoordinator starts launched runs at
once (a daemon on a busy two-core machine let its code server miss heartbeats and die mid-launch). The
webserver is killed by process group, its code server included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.urls import world_env
from medicaid_assets.settings import PROJECT_ROOT
from medicaid_assets_tests.support.ports import free_port

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; Playwright's own browser download is never used
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTANCE_YAML = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
nux:
  enabled: false
telemetry:
  enabled: false
"""
STARTUP_SECONDS = 120
UI_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class DagsterUI:
    base_url: str
    data_dir: Path

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(
            f"{self.base_url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group, then SIGKILL to what is left of it: the code server would otherwise linger
    until its heartbeat times out."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_until_loaded(ui: DagsterUI, process: subprocess.Popen, log: Path) -> None:
    """Until the code location is loaded; a load error or a dead webserver fails at once with its reason."""
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename "
    query += "... on PythonError { message } } } } } }"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{_tail(log)}")
        try:
            entries = ui.graphql(query)["workspaceOrError"]["locationEntries"]
        except httpx.HTTPError:
            entries = []
        loaded = [e["locationOrLoadError"] for e in entries if e["locationOrLoadError"]]
        if loaded and loaded[0]["__typename"] == "PythonError":
            pytest.fail(f"the code location failed to load: {loaded[0]['message']}")
        if loaded and loaded[0]["__typename"] == "RepositoryLocation":
            return
        time.sleep(0.5)
    pytest.fail(f"the UI did not load the code location within {STARTUP_SECONDS}s:\n{_tail(log)}")


def ui_dirs(root: Path) -> tuple[Path, Path]:
    """The instance's home (with its settings) and the data dir of a UI served from ``root``."""
    home, data_dir = root / "dagster_home", root / "data"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    return home, data_dir


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory, world_server: WorldServer) -> Iterator[DagsterUI]:
    """The webserver on a free port, a fresh instance and data dir, sources on the sample world."""
    with serve_dagster_ui(tmp_path_factory.mktemp("dagster_ui"), world_server) as ui:
        yield ui


@contextlib.contextmanager
def serve_dagster_ui(
    root: Path, world_server: WorldServer, while_loading: Callable[[], object] | None = None
) -> Iterator[DagsterUI]:
    """The webserver on a free port for the instance and data dir of :func:`ui_dirs` under ``root``, once loaded.

    ``while_loading`` runs in this process while the webserver loads the code location in its own (a module's
    runs overlap its ~30-60 s start-up instead of following it)."""
    home, data_dir = ui_dirs(root)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDICAID_")}
    env |= {**world_env(world_server.base_url), "MEDICAID_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}
    port = free_port()
    command = [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    log = ARTIFACTS / "webserver.log"
    with log.open("wb") as out:
        webserver = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        if while_loading is not None:
            while_loading()
        ui = DagsterUI(base_url=f"http://127.0.0.1:{port}", data_dir=data_dir)
        _wait_until_loaded(ui, webserver, log)
        yield ui
    finally:
        _stop(webserver)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"the UI test drives Debian's Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page; whatever it shows when the test ends is kept as ``<test>-last.png`` for a post-mortem."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        page.screenshot(path=ARTIFACTS / f"{request.node.name}-last.png")
        context.close()

"""Reliability suite: a world of its own, one uninterrupted reference run, counters and the closing summary.

Every test here is marked ``reliability`` (``pytest -m reliability`` runs the suite alone, ``-m "not reliability"``
skips it). The reference run is the real CLI (``download`` then ``build-datasets``) as a subprocess, with fake
secrets in its environment, against this session's own sample-world server; every other test compares with it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets_tests.reliability.harness import (
    FAKE_SECRETS,
    FAST_BUILD,
    STATS,
    CliRun,
    check_state,
    new_home,
    outputs,
    raw_digest,
    run_cli,
    warehouse_digest,
)

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    counts = STATS.counts
    if not counts:
        return
    tr = terminalreporter
    tr.section("reliability summary")
    tr.write_line(
        f"faults injected: {counts['faults_injected']:,} (server answers replaced by 429/500/503/slow/drop/"
        f"truncate/non-JSON/hostile bodies) over {counts['fault_scenarios']} fault scenarios"
    )
    tr.write_line(f"kills (SIGKILL): {counts['kills']} over {counts['crash_scenarios']} crash scenarios")
    tr.write_line(
        f"runs: {counts['runs']} CLI subprocesses, {counts['inprocess_runs']} in-process runs, "
        f"{counts['launched_runs']} launched through the instance ({counts['graceful_stops']} terminated gracefully)"
    )
    tr.write_line(
        f"hostile inputs tried: {counts['hostile_inputs']} (rejected with a clear message: {counts['hostile_rejected']})"
    )
    tr.write_line(f"concurrent runs: {counts['concurrent_runs']}; secret scans: {counts['secret_scans']} blobs")
    tr.write_line(
        f"rows compared with an uninterrupted run: {counts['rows_compared']:,}; "
        f"lost: {counts['rows_lost']}; duplicated or extra: {counts['rows_duplicated_or_extra']}"
    )
    tr.write_line(
        f"identifiers fetched successfully twice: {counts['refetched_after_commit']} after their answer was "
        f"committed (must be 0); {counts['refetched_in_flight']} whose answer was in flight at a kill"
    )
    for note in STATS.notes:
        tr.write_line(f"  {note}")


@pytest.fixture(scope="session")
def rel_world(world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's sample world that hostile tests may add files to."""
    target = tmp_path_factory.mktemp("rel") / "world"
    shutil.copytree(world_dir, target)
    return target


@pytest.fixture(scope="session")
def rel_server(rel_world: Path) -> Iterator[WorldServer]:
    with WorldServer(rel_world) as server:
        yield server


@dataclass
class Reference:
    """The uninterrupted run every other test compares with."""

    base_url: str
    sourced: Path  # the data dir right after ``download`` (copied before ``build-datasets``)
    data: Path  # the data dir after both commands
    home: Path
    runs: list[CliRun]
    counts: dict[str, dict[str, int]]  # hits per crash point, per command (the census)
    outputs: dict[str, list[tuple]]
    warehouse: dict[str, tuple[int, int]]
    raw: dict[str, str]


@pytest.fixture(scope="session")
def reference(rel_server: WorldServer, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    root = tmp_path_factory.mktemp("reference")
    data, home = root / "data", new_home(root / "home")
    base = rel_server.base_url
    runs, counts = [], {}
    for name, command in (("download", ["download"]), ("build", ["build-datasets", *FAST_BUILD])):
        census = root / f"counts-{name}.json"
        run = run_cli(command, data, home, base, env=FAKE_SECRETS, counts=census)
        assert run.returncode == 0, run.tail()
        runs.append(run)
        counts[name] = json.loads(census.read_text())
        if name == "download":
            shutil.copytree(data, root / "sourced")
    assert check_state(data, finished=True) == []
    return Reference(
        base_url=base,
        sourced=root / "sourced",
        data=data,
        home=home,
        runs=runs,
        counts=counts,
        outputs=outputs(data, base),
        warehouse=warehouse_digest(data / "warehouse.duckdb"),
        raw=raw_digest(data),
    )

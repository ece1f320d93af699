"""Every fault kind of the sample-world server alone, then all mixed at 20%, during downloads and resolution.

A run under faults completes, or fails with a message that names the source and what came back, and the next run
(faults still on) completes; then its files, tables and outputs equal the fault-free reference run's.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.sample_world.server import FAULT_KINDS, WorldControl, WorldServer
from medicaid_assets_tests.reliability.harness import (
    STATS,
    check_state,
    compare_rows,
    outputs,
    raw_digest,
    warehouse_digest,
)
from medicaid_assets_tests.reliability.inprocess import RAW_FILES, Pipeline, failure_text, settings

SEED = 31
MAX_RUNS = 2  # failed runs allowed while the faults last; each must explain itself
# A message is clear when it names the source (its URL) and says what came back.
WHAT_CAME_BACK = re.compile(
    r"HTTP \d{3}|HTML|truncated|gave up|Timeout|timed out|RemoteProtocol|ReadError|could not be fetched|incomplete|"
    r"Connect|no monthly NPPES V2 zip link|links no \.zip",
    re.I,
)


@pytest.fixture
def world(rel_server: WorldServer) -> WorldControl:
    control = WorldControl(rel_server.base_url)
    control.clear_faults()
    control.clear_requests()
    yield control
    control.clear_faults()


def _injected(world: WorldControl) -> int:
    n = sum(1 for r in world.requests() if r["fault"])
    STATS.add("faults_injected", n)
    STATS.add("fault_scenarios")
    return n


def _until_success(pipeline: Pipeline, step, base_url: str, world: WorldControl | None = None) -> list[str]:
    """Run ``step`` until it succeeds; every failed run must explain itself (the URL and what came back).

    Without ``world`` the first run must succeed (the product retries these faults). With it, failed runs are
    allowed while the faults last (at most MAX_RUNS); then the server recovers and the next run must succeed.
    Returns the failure messages.
    """
    messages = []
    for attempt in range(MAX_RUNS + 1):
        mark = pipeline.mark()
        if step():
            return messages
        text = pipeline.failures_since(mark)
        assert base_url in text and WHAT_CAME_BACK.search(text), f"unclear failure message:\n{text}"
        messages.append(text)
        if world is None:
            pytest.fail("the run failed although every fault of this kind is retried:\n" + text)
        if attempt == MAX_RUNS - 1:
            world.clear_faults()  # the server recovers: the next run must complete
    pytest.fail("still failing once the server recovered:\n" + "\n---\n".join(messages))


def _raw_subset(digest: dict[str, str]) -> dict[str, str]:
    """The files the raw (non-weekly) assets produce: spending file, monthly bundle, CPT archives, fallback."""
    return {k: v for k, v in digest.items() if not k.startswith("nppes/weekly/")}


# An HTML page with status 200 in place of a file is refused, not retried (contract: it is an error that names
# the URL and what came back); every other kind is retried within the run.
NOT_RETRIED_ON_FILES = {"nonjson"}


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_during_downloads(kind, world, rel_server, reference, tmp_path: Path) -> None:
    world.set_faults(rate=0.5, kinds=[kind], scope="files", seed=SEED, slow_seconds=1.5)
    data = tmp_path / "data"
    with dg.instance_for_test() as instance:
        pipeline = Pipeline(settings(data, rel_server.base_url), instance)
        recover = world if kind in NOT_RETRIED_ON_FILES else None
        messages = _until_success(pipeline, lambda: pipeline.run(RAW_FILES), rel_server.base_url, recover)
    assert _injected(world) > 0
    if messages:
        STATS.note(f"files/{kind}: {len(messages)} run(s) failed first, each naming the URL and the answer")
    assert check_state(data, finished=True) == []
    assert _raw_subset(raw_digest(data)) == _raw_subset(reference.raw)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_during_resolution(kind, world, rel_server, reference, tmp_path: Path) -> None:
    data = shutil.copytree(reference.sourced, tmp_path / "data")
    world.set_faults(rate=0.35, kinds=[kind], scope="api", seed=SEED, slow_seconds=1.5)
    with dg.instance_for_test() as instance:
        pipeline = Pipeline(settings(data, rel_server.base_url), instance)
        _until_success(pipeline, pipeline.build, rel_server.base_url)
    assert _injected(world) > 0
    assert check_state(data, finished=True) == []
    assert compare_rows(outputs(data, rel_server.base_url), reference.outputs) == {}


def test_all_faults_mixed_at_20_percent_through_the_whole_pipeline(world, rel_server, reference, tmp_path) -> None:
    """Downloads under 20% file faults, then resolution under 20% API faults: the reference's results exactly."""
    data = tmp_path / "data"
    with dg.instance_for_test() as instance:
        pipeline = Pipeline(settings(data, rel_server.base_url), instance)
        world.set_faults(rate=0.2, kinds=FAULT_KINDS, scope="files", seed=SEED + 1, slow_seconds=1.5)
        _until_success(pipeline, pipeline.download, rel_server.base_url, world)  # HTML pages are not retried
        files_faults = _injected(world)
        world.clear_requests()
        world.set_faults(rate=0.2, kinds=FAULT_KINDS, scope="api", seed=SEED + 2, slow_seconds=1.5)
        _until_success(pipeline, pipeline.build, rel_server.base_url)
        api_faults = _injected(world)
    assert files_faults > 0 and api_faults > 0
    assert check_state(data, finished=True) == []
    assert raw_digest(data) == reference.raw
    assert warehouse_digest(data / "warehouse.duckdb") == reference.warehouse
    assert compare_rows(outputs(data, rel_server.base_url), reference.outputs) == {}


def test_an_outage_fails_clearly_after_retries_and_the_next_run_completes(world, rel_server, reference, tmp_path):
    """Every file request answered 503: the run gives up with the URL and the status; once the server is back,
    the next run completes with the reference's files. The same outage on the APIs leaves ``error`` rows (never
    settled), which the next run resolves."""
    data = tmp_path / "data"
    with dg.instance_for_test() as instance:
        pipeline = Pipeline(settings(data, rel_server.base_url), instance)
        world.set_faults(rate=1.0, kinds=["503"], scope="files", seed=SEED)
        assert not pipeline.run(RAW_FILES)
        text = failure_text(pipeline.last)
        assert rel_server.base_url in text and "503" in text, text
        assert "gave up after" in text or "files page" in text, text
        _injected(world)
        world.clear_faults()
        assert pipeline.run(RAW_FILES), failure_text(pipeline.last)
    assert _raw_subset(raw_digest(data)) == _raw_subset(reference.raw)

    data = shutil.copytree(reference.sourced, tmp_path / "build")
    with dg.instance_for_test() as instance:
        pipeline = Pipeline(settings(data, rel_server.base_url), instance)
        world.set_faults(rate=1.0, kinds=["503"], scope="api", seed=SEED)
        assert pipeline.build(), failure_text(pipeline.last)
        _injected(world)
        errors = [r for r in outputs(data, rel_server.base_url)["unresolved"] if "error" in r]
        assert errors and all("503" in " ".join(map(str, r)) for r in errors)
        world.clear_faults()
        assert pipeline.build(), failure_text(pipeline.last)
    assert compare_rows(outputs(data, rel_server.base_url), reference.outputs) == {}

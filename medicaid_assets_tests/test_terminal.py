"""What a person at a terminal sees: the CLI in a pseudo-terminal, Ctrl-C typed on the keyboard, a failing source.

The commands run on a data dir with every source loaded (built once for the module), against the session's sample
world, each with a Dagster home of its own.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from medicaid_assets.cli.download import SOURCES
from medicaid_assets.cli.runner import Runner, full_range_tags
from medicaid_assets.cli.terminal import PARTIAL_TAG
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.reference.resolution.checks import npi_disagreements
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.sample_world.urls import settings_for_world, world_env
from medicaid_assets.settings import Settings, child_env
from medicaid_assets_tests.support.terminal import Terminal, screen_lines

pytestmark = pytest.mark.slow

BAR = "━"
LOG_TIME = re.compile(r"\d\d:\d\d:\d\d (INFO|WARNING|ERROR)")


@pytest.fixture(scope="module")
def sourced(tmp_path_factory: pytest.TempPathFactory, world_server: WorldServer) -> Path:
    data = tmp_path_factory.mktemp("sourced") / "data"
    settings = settings_for_world(Settings.from_env({"MEDICAID_DATA_DIR": str(data)}), world_server.base_url)
    with dg.instance_for_test() as instance:
        runner = Runner(build_definitions(settings), instance, quiet=True, split_ranges=True)
        assert runner.run(main_job.name, SOURCES, tags=full_range_tags())
    return data


@pytest.fixture
def data_dir(sourced: Path, tmp_path: Path) -> Path:
    return shutil.copytree(sourced, tmp_path / "data")


def _env(data: Path, server: WorldServer) -> dict[str, str]:
    return child_env({"MEDICAID_DATA_DIR": str(data), **world_env(server.base_url)})


def _npi_asked(world: WorldControl) -> int:
    return sum(1 for r in world.requests() if r["api"] == "npi")


def test_ctrl_c_says_stopped_prints_the_resume_command_and_keeps_the_bars_clean(
    data_dir: Path, tmp_path: Path, world: WorldControl, world_server: WorldServer
) -> None:
    home = tmp_path / "home"
    world.clear_requests()
    paced = ["--skip-nppes-bulk", "--requests-per-second", "4", "--concurrency", "1"]
    terminal = Terminal(["build-datasets", "--reset-map", *paced], home, _env(data_dir, world_server))
    terminal.wait_for(lambda: _npi_asked(world) >= 3, "the third NPI request")
    terminal.ctrl_c()
    code = terminal.finish()
    output, lines = terminal.output, screen_lines(terminal.output)
    assert code == 130, output[-3000:]

    # Stopped, said so, with no traceback, and the command that resumes (without --reset-map, which starts over).
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-4000:]
    assert "stopped early" in output and "succeeded" not in output
    resume = f"./run medicaid-assets build-datasets {' '.join(paced)} --dagster-home {home}"
    assert any(line.rstrip().endswith(f"to resume where it stopped: {resume}") for line in lines), lines[-5:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert runs and all(PARTIAL_TAG in run.tags for run in runs)
        assert re.fullmatch(r"stopped early: [\d,]+ left", runs[0].tags[PARTIAL_TAG])

    # Every output says what the cache says.
    npis = pq.read_table(data_dir / "assets/resolution/dataset_npis.parquet").column("npi").to_pylist()
    assert npi_disagreements(DataLayout(data_dir), npis) == []

    # The bars redraw on lines of their own: no log line glued onto one, and the last bar agrees with the log.
    glued = [line for line in lines if BAR in line and LOG_TIME.search(line)]
    assert not glued, glued[:3]
    bars = [re.search(r"(\d+)/(\d+)", line.split(BAR)[-1]) for line in lines if line.startswith("NPI Registry")]
    logged = [re.search(r"NPI Registry: (\d+)/(\d+)", line) for line in lines if "NPI Registry: " in line]
    assert bars and logged and bars[-1].groups() == logged[-1].groups(), (lines[-12:], logged[-1].groups())


def test_a_failing_download_prints_its_cause_in_a_line_and_no_stale_results(
    data_dir: Path, tmp_path: Path, world_server: WorldServer
) -> None:
    missing = f"{world_server.base_url}/no-such-host/spending.parquet"
    home = tmp_path / "home"
    env = _env(data_dir, world_server)
    terminal = Terminal(["download", "--skip-nppes", "--medicaid-url", missing], home, env)
    code = terminal.finish()
    output, lines = terminal.output, screen_lines(terminal.output)
    assert code == 1, output[-3000:]
    assert "Traceback" not in output and "Stack Trace" not in output, output[-4000:]
    failed = [line for line in lines if line.startswith("failed:")]
    assert len(failed) == 1 and missing in failed[0] and "404" in failed[0], lines
    assert "identifiers" not in output and "npi dataset" not in output  # no results of earlier runs
    assert len(lines) < 30, lines
    verbose = Terminal(["download", "--skip-nppes", "--medicaid-url", missing, "--verbose"], home, env)
    assert verbose.finish() == 1 and "Stack Trace" in verbose.output  # --verbose: the whole trace

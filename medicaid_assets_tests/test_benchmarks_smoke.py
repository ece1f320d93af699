"""The benchmark command still runs end to end (tiny scale). Benchmarks are not tests: no time is asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medicaid_assets.settings import PROJECT_ROOT
from medicaid_assets_tests.conftest import TEST_SPEC

STAGES = (
    "prepare",
    "spending",
    "distinct",
    "nppes",
    "nppes_floor",
    "weekly",
    "resolution",
    "outputs",
    "pfs_amounts",
    "marts",
    "rates_benchmarks",
    "main_cold",
    "main_warm",
    "resdac_fixed_width",
    "resdac_sketches",
    "synthetic_medicare",
    "price_transparency",
    "rates_phase2",
)


@pytest.mark.slow
def test_benchmark_command_runs_every_stage_at_tiny_scale(tmp_path: Path, world_dir: Path) -> None:
    """On the session's world (reused, not generated again), the stages of one data folder sharing a process."""
    results = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--scale",
        str(TEST_SPEC.scale),
        "--seed",
        str(TEST_SPEC.seed),
        "--world-dir",
        str(world_dir),
        "--shared-processes",
        "--work-dir",
        str(tmp_path / "work"),
        "--results-dir",
        str(results),
        "--instance",
        "ephemeral",
        "--resdac-dat-bytes",
        "2e6",
    ]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [written] = results.glob("*-scale0.0001.json")
    report = json.loads(written.read_text())
    assert report["scale"] == 0.0001 and report["machine"]["cores"] >= 1
    assert set(STAGES) <= set(report["stages"])
    for stage, figures in report["stages"].items():
        assert "error" not in figures, (stage, figures.get("error"))
    assert report["stages"]["spending"]["rows"] == report["world"]["spending_rows"]
    assert report["stages"]["main_warm"]["requests"] == 0  # nothing new: no request (a behaviour, not a time)
    assert len(report["table"]) == 21 and all(row["figure"] for row in report["table"])
    assert "| stage | figure | floor, same run |" in done.stdout
    assert list((tmp_path / "work").iterdir()) == []  # work files are removed unless --keep

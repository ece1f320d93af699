"""The whole world: deterministic, atomic, reusable, and served by the `sample-world` command."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import world_env
from medicaid_assets.sample_world.world import generate_world, is_current, read_world
from medicaid_assets.settings import PROJECT_ROOT

SMALL = WorldSpec(seed=5, scale=0.0001, rows=3000)


def test_same_seed_gives_byte_identical_worlds(tmp_path: Path) -> None:
    a = generate_world(tmp_path / "a", SMALL)
    b = generate_world(tmp_path / "b", SMALL)
    assert a["files"] == b["files"]
    c = generate_world(tmp_path / "c", WorldSpec(seed=6, scale=0.0001, rows=3000))
    changed = [rel for rel, meta in a["files"].items() if c["files"].get(rel, {}).get("sha256") != meta["sha256"]]
    assert len(changed) >= 5  # spending, NPPES zips, CPT zip all depend on the seed


def test_world_lists_every_source_and_is_reused(tmp_path: Path) -> None:
    out = tmp_path / "w"
    info = generate_world(out, SMALL)
    names = set(info["files"])
    assert any(n.endswith("2026-02-09/medicaid-provider-spending.parquet") for n in names)
    assert any(n.endswith("2026-06-01/medicaid-provider-spending.parquet") for n in names)
    assert "download.cms.gov/nppes/NPI_Files.html" in names
    assert sum(n.endswith("_Weekly_V2.zip") for n in names) == 3
    assert any(n.startswith("www.cms.gov/files/zip/") for n in names)
    assert is_current(out, SMALL) and not is_current(out, WorldSpec(seed=5, scale=0.0001, rows=4000))
    mtime = (out / "world.json").stat().st_mtime_ns
    generate_world(out, SMALL)
    assert (out / "world.json").stat().st_mtime_ns == mtime  # reused, not regenerated
    (out / "files" / "download.cms.gov/nppes/NPI_Files.html").unlink()
    assert not is_current(out, SMALL)
    generate_world(out, SMALL)
    assert read_world(out)["files"] == info["files"]


def test_cli_generates_and_serves(tmp_path: Path) -> None:
    out = tmp_path / "cli_world"
    exe = [sys.executable, "-m", "medicaid_assets.sample_world.cli"]
    gen = subprocess.run(
        [*exe, "generate", "--out", str(out), "--seed", "5", "--scale", "0.0001", "--rows", "3000"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
    )
    assert gen.returncode == 0, gen.stderr
    assert "medicaid-provider-spending.parquet" in gen.stdout
    serve = subprocess.Popen(
        [*exe, "serve", "--world", str(out), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )
    try:
        started = json.loads(serve.stdout.readline())
        assert started["env"] == world_env(started["base_url"], out)
        page = httpx.get(started["env"]["MEDICAID_NPPES_FILES_PAGE_URL"], timeout=10)
        assert page.status_code == 200 and "_Weekly_V2.zip" in page.text
        npi = httpx.get(started["env"]["MEDICAID_NPI_API_URL"], params={"version": "2.1"}, timeout=10)
        assert npi.json()["Errors"][0]["number"] == "04"
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=20) == 0


@pytest.mark.parametrize("scale", [0.0, -1.0, 11.0])
def test_bad_scale_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="scale must be in"):
        WorldSpec(scale=scale)

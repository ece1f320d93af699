"""Hostile physician fee schedule files: a PPRRVU file spoiled on disk after a good load is refused with a message
naming the file, the line and the field, and the release's tables an earlier run wrote stay byte for byte."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.reference.fee_schedules.keys import pfs_release_partitions
from medicaid_assets.defs.reference.fee_schedules.pfs_parse import RVU_FIELDS, find_release_files
from medicaid_assets.defs.reference.fee_schedules.pfs_sensors import pfs_release_job
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.settings import Settings
from medicaid_assets_tests.reliability.harness import STATS, sha256
from medicaid_assets_tests.reliability.inprocess import failure_text

RELEASE = "2026Q4"
WORK_RVU = next(i for name, i, _, _ in RVU_FIELDS if name == "work_rvu")


def _run(settings: Settings) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def(pfs_release_job.name)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(pfs_release_partitions.name, [RELEASE])
        return job.execute_in_process(instance=instance, partition_key=RELEASE, raise_on_error=False)


def _settings(data: Path, server: WorldServer) -> Settings:
    return settings_for_world(Settings.from_env({"MEDICAID_DATA_DIR": str(data)}), server.base_url)


def _pprrvu(data: Path) -> Path:
    (folder,) = [p for p in (DataLayout(data).pfs_releases / RELEASE).iterdir() if p.is_dir()]
    return find_release_files(folder).pprrvu


def _spoil_row(path: Path, change: Callable[[list[str]], list[str]]) -> int:
    """Apply ``change`` to the fields of the first record after the header; return its line number."""
    lines = path.read_bytes().decode("cp1252").split("\r\n" if b"\r\n" in path.read_bytes() else "\n")
    at = next(i for i, line in enumerate(lines) if line.upper().startswith("HCPCS,MOD")) + 1
    lines[at] = ",".join(change(lines[at].split(",")))
    path.write_bytes("\r\n".join(lines).encode("cp1252") if b"\r\n" in path.read_bytes() else "\n".join(lines).encode())
    return at + 1


def _too_few_fields(path: Path) -> str:
    return f"line {_spoil_row(path, lambda f: f[:4])}: 4 fields"


def _not_a_number(path: Path) -> str:
    line = _spoil_row(path, lambda f: [*f[:WORK_RVU], "1.2.3", *f[WORK_RVU + 1 :]])
    return f"line {line}: field work_rvu is '1.2.3', not a number"


def _html(path: Path) -> str:
    path.write_text("<!DOCTYPE html><html><body>Access denied</body></html>\n")
    return "no header row starting HCPCS,MOD"


CASES = {"a row with too few fields": _too_few_fields, "a text RVU": _not_a_number, "HTML": _html}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, world_server: WorldServer) -> Path:
    data = tmp_path_factory.mktemp("pfs-good") / "data"
    result = _run(_settings(data, world_server))
    assert result.success, failure_text(result)
    return data


@pytest.mark.parametrize("case", list(CASES))
def test_a_spoiled_pprrvu_is_refused_naming_line_and_field(tmp_path, loaded, world_server, case) -> None:
    data = shutil.copytree(loaded, tmp_path / "data")
    outputs = sorted((data / "assets").rglob(f"{RELEASE}.parquet"))
    assert outputs
    before = {p: sha256(p) for p in outputs}
    pprrvu = _pprrvu(data)
    expected = CASES[case](pprrvu)
    STATS.add("hostile_inputs")
    result = _run(_settings(data, world_server))
    assert not result.success
    message = failure_text(result)
    assert pprrvu.name in message and expected in message, message
    assert {p: sha256(p) for p in sorted((data / "assets").rglob(f"{RELEASE}.parquet"))} == before
    assert not list((data / "assets").rglob("*.tmp"))
    STATS.add("hostile_rejected")

"""A SIGKILL in the middle of each family's writes leaves the previous outputs readable and unchanged, and the next
run resumes to exactly what an uninterrupted run writes (see :mod:`family_kills`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medicaid_assets.defs.resdac_medicare import keys as resdac
from medicaid_assets.defs.resdac_medicare.jobs import FULL_REFRESH_TAGS
from medicaid_assets.sample_world.resdac import write_resdac_files
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.settings import Settings
from medicaid_assets_tests.reliability.family_kills import Scenario, kill_and_resume, schema_rows

RESDAC_KEYS = [
    resdac.RAW,
    resdac.BENEFICIARIES,
    resdac.ENROLLMENTS,
    resdac.ADMISSIONS,
    resdac.AUDIT,
    resdac.QC_ENROLLMENTS,
    resdac.QC_ADMISSIONS,
]


def _touch_all(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path)


@pytest.mark.parametrize(("point", "seed"), [("duckdb.sql", 11)])
def test_resdac_load_killed_mid_write_resumes(tmp_path: Path, point: str, seed: int) -> None:
    """Every raw table, the model and the QC are rewritten (the files' fingerprints moved); the kill lands inside."""
    delivery = tmp_path / "delivery"
    write_resdac_files(WorldSpec(scale=0.00001), delivery)
    settings = Settings.from_env(
        {"MEDICAID_DATA_DIR": str(tmp_path / "data"), "MEDICAID_RESDAC_INPUT_DIR": str(delivery)}
    )
    scenario = Scenario(
        settings=settings,
        plan=[{"select": [k.to_user_string() for k in RESDAC_KEYS], "tags": FULL_REFRESH_TAGS}],
        digest=lambda: schema_rows(settings.warehouse_path, resdac.SCHEMA, skip_columns=("loaded_at", "fingerprint")),
        rewrite=lambda: _touch_all(delivery),
    )
    kill_and_resume(scenario, point, seed, tmp_path)
    assert not list((settings.data_dir).rglob("staging/*/*"))  # the killed load's staged parquet was cleared

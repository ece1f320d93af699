"""A SIGKILL in the middle of each family's writes leaves the previous outputs readable and unchanged, and the next
run resumes to exactly what an uninterrupted run writes (see :mod:`family_kills`)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from pathlib import Path

import pytest

from medicaid_assets.cli.runner import full_range_tags
from medicaid_assets.defs.medicaid_spending.keys import MARTS_SCHEMA, SPENDING_ENRICHED
from medicaid_assets.defs.rates_warehouse.keys import BENCH_MEDICARE_OPPS
from medicaid_assets.defs.reference.fee_schedules import keys as fees
from medicaid_assets.defs.resdac_medicare import keys as resdac
from medicaid_assets.defs.resdac_medicare.jobs import FULL_REFRESH_TAGS
from medicaid_assets.defs.synthetic_medicare.jobs import ALL_FILE_TYPES_TAGS
from medicaid_assets.defs.synthetic_medicare.keys import DOWNLOADS, LANDED
from medicaid_assets.defs.synthetic_medicare.keys import SCHEMA as SYNTHETIC_SCHEMA
from medicaid_assets.defs.synthetic_medicare.warehouse import synthetic_medicare_models
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.resdac import write_resdac_files
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.settings import Settings
from medicaid_assets_tests.reliability.family_kills import Digest, Scenario, kill_and_resume, parquet_rows, schema_rows

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
        families=["resdac_medicare"],
        plan=[{"select": [k.to_user_string() for k in RESDAC_KEYS], "tags": FULL_REFRESH_TAGS}],
        digest=lambda: schema_rows(settings.warehouse_path, resdac.SCHEMA, skip_columns=("loaded_at", "fingerprint")),
        rewrite=lambda: _touch_all(delivery),
    )
    kill_and_resume(scenario, point, seed, tmp_path)
    assert not list((settings.data_dir).rglob("staging/*/*"))  # the killed load's staged parquet was cleared


def _files(root: Path) -> Digest:
    """sha256 of every file under ``root`` (extracted trees), by relative path; stamps left out."""
    return {
        f"raw/{p.relative_to(root).as_posix()}": [(hashlib.sha256(p.read_bytes()).hexdigest(),)]
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not p.name.endswith(".json")
        and not any(part.endswith((".partial", ".old")) for part in p.relative_to(root).parts)
    }


@pytest.mark.parametrize(("point", "seed"), [("folder.swap", 5)])
def test_synthetic_medicare_landing_killed_mid_swap_resumes(settings: Settings, tmp_path: Path, point, seed) -> None:
    """Every file type is landed again (its stamp removed); the kill lands as one type's folder is replaced."""
    layout = DataLayout(settings.data_dir)
    scenario = Scenario(
        settings=settings,
        families=["synthetic_medicare"],
        plan=[{"select": [DOWNLOADS.to_user_string(), LANDED.to_user_string()], "tags": ALL_FILE_TYPES_TAGS}],
        digest=lambda: parquet_rows(layout.synthetic_medicare_landed),
        rewrite=lambda: shutil.rmtree(layout.synthetic_medicare_landed / "_stamps"),
    )
    kill_and_resume(scenario, point, seed, tmp_path)


PFS_RELEASE, OPPS_RELEASE = "2026Q4", "2025Q1"
FEE_PLAN = [
    {
        "select": [k.to_user_string() for k in (fees.PFS_RELEASE, fees.PFS_RVUS, fees.PFS_LOCALITIES, fees.PFS_AMOUNTS,
                                                 fees.PFS_STATE_AMOUNTS)],
        "partition": PFS_RELEASE,
        "dynamic": {fees.pfs_release_partitions.name: [PFS_RELEASE]},
    },
    {
        "select": [k.to_user_string() for k in (fees.OPPS_ADDENDA, fees.OPPS_APC_RATES, fees.OPPS_HCPCS_RATES)],
        "partition": OPPS_RELEASE,
        "dynamic": {fees.opps_releases.name: [OPPS_RELEASE]},
    },
    {"select": [BENCH_MEDICARE_OPPS.to_user_string()]},
]  # fmt: skip


@pytest.mark.parametrize(("point", "seed"), [("file.rename", 3)])
def test_fee_schedules_and_benchmarks_killed_mid_write_resume(settings: Settings, tmp_path: Path, point, seed):
    """The physician fee schedule release (extracted again: its stamp removed), its tables, an OPPS release and the
    OPPS benchmark are all written again; the kill lands as one of their parquet files is published."""
    layout = DataLayout(settings.data_dir)

    def rewrite() -> None:
        for stamp in layout.pfs_releases.rglob("*.extracted.json"):
            stamp.unlink()

    scenario = Scenario(
        settings=settings,
        families=["reference.fee_schedules", "rates_warehouse"],
        plan=FEE_PLAN,
        digest=lambda: {**parquet_rows(layout.assets), **_files(layout.pfs_releases)},
        rewrite=rewrite,
    )
    kill_and_resume(scenario, point, seed, tmp_path)


@pytest.mark.parametrize(("point", "seed"), [("duckdb.sql", 7)])
def test_spending_enriched_killed_mid_write_resumes(reference, tmp_path: Path, point, seed) -> None:
    """The mart's months are replaced in place (one transaction); the kill lands among its statements. Its inputs
    (spending, the NPPES providers, the NUCC taxonomy) are the session's reference data dir after ``download``."""
    data = shutil.copytree(reference.sourced, tmp_path / "data")
    settings = Settings.from_env({"MEDICAID_DATA_DIR": str(data)})
    scenario = Scenario(
        settings=settings,
        families=["medicaid_spending", "reference.code_sets", "reference.nppes"],
        plan=[{"select": [SPENDING_ENRICHED.to_user_string()], "tags": full_range_tags()}],
        digest=lambda: schema_rows(settings.warehouse_path, MARTS_SCHEMA),
        rewrite=lambda: None,  # every run replaces its months
    )
    kill_and_resume(scenario, point, seed, tmp_path)


def test_synthetic_medicare_dbt_build_killed_mid_run_resumes(settings: Settings, tmp_path: Path) -> None:
    """``dbt build`` (its stamp removed) killed with its Dagster process a seeded time after it started: every model
    table reads as before, and the resume rebuilds them to the same rows."""
    layout = DataLayout(settings.data_dir)
    runs = layout.synthetic_medicare_dbt / "runs"
    models = [k.to_user_string() for k in synthetic_medicare_models.keys]
    scenario = Scenario(
        settings=settings,
        families=["synthetic_medicare"],
        setup=[{"select": [DOWNLOADS.to_user_string(), LANDED.to_user_string()], "tags": ALL_FILE_TYPES_TAGS}],
        plan=[{"select": models}],
        digest=lambda: schema_rows(settings.warehouse_path, SYNTHETIC_SCHEMA),
        rewrite=lambda: [p.unlink() for p in layout.synthetic_medicare_dbt.glob("last_build*.json")],
    )
    delay = random.Random(13).uniform(1.0, 4.0)
    kill_and_resume(scenario, "dbt", 13, tmp_path, kill_after=(lambda: runs.is_dir() and any(runs.iterdir()), delay))

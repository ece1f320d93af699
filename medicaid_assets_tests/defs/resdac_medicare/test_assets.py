"""The family end to end on a generated ResDAC delivery: planted defects land where they must, reruns skip."""

import os
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.resdac_medicare.jobs import FULL_REFRESH_TAGS
from medicaid_assets.defs.resdac_medicare.keys import ADMISSIONS, AUDIT, BENEFICIARIES, QC_ENROLLMENTS, RAW
from medicaid_assets.settings import Settings
from medicaid_assets_tests.defs.resdac_medicare.support import FAMILY


def _settings(tmp_path: Path, input_dir: Path) -> Settings:
    return Settings.from_env({"MEDICAID_DATA_DIR": str(tmp_path / "data"), "MEDICAID_RESDAC_INPUT_DIR": str(input_dir)})


def _run(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        FAMILY, resources=build_resources(settings), instance=instance, tags=FULL_REFRESH_TAGS, raise_on_error=False
    )


def _sql(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


@pytest.mark.slow
def test_planted_defects_land_in_the_audit_with_their_reasons_and_counts(tmp_path, delivery):
    input_dir, world = delivery
    expected = world["expected"]
    settings = _settings(tmp_path, input_dir)
    with dg.instance_for_test() as instance:
        result = _run(settings, instance)
        assert result.success
        checks_ = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks_ == dict.fromkeys(
            [
                "admissions_counts_add_up",
                "enrollments_key_unique",
                "beneficiaries_key_unique",
                "qc_sketches_within_bounds",
            ],
            True,
        )
        reasons = dict(_sql(settings, "SELECT reason, count(*) FROM resdac_medicare.admissions_audit GROUP BY reason"))
        assert reasons == {
            "DUPLICATE": expected["duplicate"],
            "PRIMARY KEY": expected["primary_key"],
            "FOREIGN KEY": expected["foreign_key"],
        }
        assert _sql(settings, "SELECT count(*) FROM resdac_medicare.admissions")[0][0] == expected["admissions"]
        dob, sex, benes = _sql(
            settings,
            "SELECT count(*) FILTER (WHERE dob_latest IS NOT NULL), count(*) FILTER (WHERE sex LIKE '%,%'), count(*) "
            "FROM resdac_medicare.beneficiaries",
        )[0]
        assert (dob, sex, benes) == (
            expected["dob_disagreements"],
            expected["sex_disagreements"],
            expected["beneficiaries"],
        )
        # 2-digit years became 4-digit; 9-digit ZIPs were split into zip + zip4.
        assert _sql(settings, "SELECT count(*) FROM resdac_medicare.enrollments WHERE year < 1000")[0][0] == 0
        assert (
            _sql(settings, "SELECT count(*) FROM resdac_medicare.enrollments WHERE year = 2010")[0][0]
            == (expected["two_digit_years"])
        )
        zip4 = (
            "SELECT count(*) FROM (SELECT zip4 FROM resdac_medicare.adm UNION ALL SELECT zip4 FROM resdac_medicare.ps)"
        )
        assert _sql(settings, zip4 + " WHERE zip4 IS NOT NULL")[0][0] == expected["nine_digit_zips"]
        # Every raw row keeps its file and record number; the multi-part MBSF numbers each part from 1.
        parts = _sql(
            settings,
            "SELECT source_file, min(record_number), max(record_number), count(*) FROM "
            "resdac_medicare.raw_mbsf_abcd_summary_res000000000_req000000_2016 GROUP BY ALL ORDER BY 1",
        )
        assert [p[0][-7:] for p in parts] == ["001.dat", "002.dat"] and all(p[1] == 1 and p[2] == p[3] for p in parts)
        assert _metadata(result, AUDIT)["reason_duplicate"] == expected["duplicate"]
        assert "rollup_by_year" in _metadata(result, QC_ENROLLMENTS)
        assert _metadata(result, BENEFICIARIES)["dagster/row_count"] == expected["beneficiaries"]
        # No PostgreSQL configured: the export is not materialized.
        exported = {e.asset_key for e in result.get_asset_materialization_events()}
        assert ADMISSIONS in exported and dg.AssetKey(["export", "resdac_medicare_postgres"]) not in exported

        # A second run loads nothing again; a changed file is replaced alone.
        again = _run(settings, instance)
        assert _metadata(again, RAW)["tables_loaded"] == 0
        dat = next(input_dir.glob("medpar/2014/*.dat"))
        stat = dat.stat()
        os.utime(dat, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        third = _run(settings, instance)
        assert _metadata(third, RAW)["tables_loaded"] == 1 and third.success


def test_a_dat_disagreeing_with_its_fts_is_refused_and_the_previous_table_stays(tmp_path, delivery):
    source, _world = delivery
    input_dir = tmp_path / "in"
    for path in source.rglob("*"):
        if path.is_file() and "mbsf/2014" not in str(path.parent):
            target = input_dir / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    settings = _settings(tmp_path, input_dir)
    with dg.instance_for_test() as instance:
        assert _run(settings, instance).success
        before = _sql(settings, "SELECT count(*) FROM resdac_medicare.raw_medpar_all_file_res000000000_req000000_2015")
        dat = next(input_dir.glob("medpar/2015/*.dat"))
        dat.write_bytes(dat.read_bytes()[: -(146 + 1) * 3])  # three records short
        result = _run(replace(settings), instance)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.event_specific_data.error.cause.message
        assert dat.name in message and "row count expected" in message
        assert (
            _sql(settings, "SELECT count(*) FROM resdac_medicare.raw_medpar_all_file_res000000000_req000000_2015")
            == before
        )

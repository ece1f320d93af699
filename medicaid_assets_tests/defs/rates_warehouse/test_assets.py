"""The benchmarks built from fee schedules loaded off the sample world, their checks, and their Iceberg tables:
re-running one workers'-comp state replaces exactly that state's rows."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.rates_warehouse.keys import ICEBERG_BENCH_ASC, ICEBERG_BENCH_OPPS, ICEBERG_BENCH_WC
from medicaid_assets.defs.reference.fee_schedules import keys as fee_schedules
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets.settings import Settings


def run(defs: dg.Definitions, instance: dg.DagsterInstance, job: str, partition: str | None = None) -> None:
    result = defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=partition)
    assert result.success


@pytest.mark.slow
def test_benchmarks_checks_and_iceberg_tables(settings: Settings, world: WorldControl) -> None:
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(fee_schedules.opps_releases.name, ["2025Q1"])
        instance.add_dynamic_partitions(fee_schedules.asc_releases.name, ["2025Q4", "2026Q1"])
        run(defs, instance, "opps_release_job", "2025Q1")
        run(defs, instance, "asc_release_job", "2026Q1")  # 2025Q4 stays unloaded: skipped, not an error
        for state in ("GA", "NC"):
            run(defs, instance, "wc_fee_schedule_job", state)
        result = defs.resolve_job_def("rates_warehouse_job").execute_in_process(instance=instance)
        assert result.success
        checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
        assert checks == {
            ("bench_medicare_opps", "opps_golden_rows"): True,
            ("bench_medicare_opps", "amounts_sane"): True,
            ("bench_medicare_asc", "asc_golden_rows"): True,
            ("bench_medicare_asc", "amounts_sane"): True,
            ("bench_wc_ca", "wc_ca_golden_rows"): True,
            ("bench_wc_ca", "amounts_sane"): True,
            ("bench_wc_ga", "amounts_sane"): True,
            ("bench_wc_nc", "amounts_sane"): True,
        }
        iceberg = defs.resources["iceberg"]
        with iceberg.duckdb() as conn:

            def table(name: str) -> pl.DataFrame:
                return conn.sql(f"SELECT * FROM {iceberg.scan_sql(name)}").pl()

            opps, asc, wc = table(ICEBERG_BENCH_OPPS), table(ICEBERG_BENCH_ASC), table(ICEBERG_BENCH_WC)
            assert (
                opps.filter((pl.col("state") == "GA") & (pl.col("code") == "27447"))["medicare_opps_stateavg"][0]
                == 12866.82
            )
            assert set(asc["release"]) == {"2026Q1"}
            assert sorted(wc["state"].unique()) == ["CA", "GA", "NC"]
            before = {
                s: wc.filter(pl.col("state") == s).sort("code", "modifier", "setting").hash_rows().sum()
                for s in ("CA", "GA", "NC")
            }
            counts = wc.group_by("state").len().sort("state").rows()
        snapshots = len(iceberg.catalog().load_table(f"{iceberg.namespace}.{ICEBERG_BENCH_WC}").snapshots())
        # Re-run: each state partition is replaced by the same rows (idempotent: same counts, same checksums).
        result = defs.resolve_job_def("rates_warehouse_job").execute_in_process(instance=instance)
        assert result.success
        with iceberg.duckdb() as conn:
            wc = conn.sql(f"SELECT * FROM {iceberg.scan_sql(ICEBERG_BENCH_WC)}").pl()
            after = {
                s: wc.filter(pl.col("state") == s).sort("code", "modifier", "setting").hash_rows().sum()
                for s in ("CA", "GA", "NC")
            }
            assert after == before and wc.group_by("state").len().sort("state").rows() == counts
        assert len(iceberg.catalog().load_table(f"{iceberg.namespace}.{ICEBERG_BENCH_WC}").snapshots()) > snapshots

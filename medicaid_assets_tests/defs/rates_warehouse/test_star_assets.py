"""The phase-2 assets on the sample world: bench_medicare_professional from a PFS release, and the star schema from
price-transparency files read through the DuckDB IO manager, with each group's state from the world's NPPES — re-running
one file's partition replaces exactly its rows (counts and checksums of every other partition unchanged), in the
warehouse, the tiles and the Iceberg table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from medicaid_assets.dagster_kit.iceberg import IcebergResource
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.price_transparency.keys import FILE_PARTITIONS, PAYER_TOC, TOC_PARTITIONS, toc_partition_key
from medicaid_assets.defs.rates_warehouse.keys import (
    BENCH_MEDICARE_PROFESSIONAL,
    DIM_PAYER,
    DIM_POS_SET,
    DIM_PROVIDER_GROUP,
    ICEBERG_STAR,
    XREF_PG_MEMBER_NPI,
    XREF_PG_MEMBER_TIN,
)
from medicaid_assets.defs.reference.fee_schedules.keys import pfs_release_partitions
from medicaid_assets.sample_world.price_transparency import world_catalog
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.settings import Settings

DIMENSIONS = [DIM_PAYER, DIM_POS_SET, DIM_PROVIDER_GROUP, XREF_PG_MEMBER_NPI, XREF_PG_MEMBER_TIN]


def _run(defs: dg.Definitions, instance: dg.DagsterInstance, keys: list[dg.AssetKey], partition: str | None = None):
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(keys))
    result = job.execute_in_process(instance=instance, partition_key=partition)
    assert result.success
    return result


def _sql(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def _iceberg(iceberg: IcebergResource, sql: str) -> list[tuple]:
    """``sql`` over Iceberg tables named ``{table}``, run in DuckDB with its iceberg extension."""
    with iceberg.duckdb() as conn:
        names = {n: iceberg.scan_sql(n) for n in ("fact_rate", "dim_payer") if "{" + n + "}" in sql}
        return conn.execute(sql.format(**names)).fetchall()


@pytest.mark.slow
def test_bench_medicare_professional_from_the_newest_release(settings: Settings, world: WorldControl) -> None:
    settings = replace(settings, io_manager="duckdb")
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(pfs_release_partitions.name, ["2026Q4"])
        assert defs.resolve_job_def("pfs_release_job").execute_in_process(instance=instance, partition_key="2026Q4")
        _run(defs, instance, [BENCH_MEDICARE_PROFESSIONAL])
    (al,) = _sql(
        settings,
        "SELECT medicare_prof_nonfacility, medicare_prof_stateavg_nonfacility, medicare_prof_national_nonfacility, "
        "code_type, release FROM rates_warehouse.bench_medicare_professional "
        "WHERE code = '99213' AND modifier = '' AND carrier = '10112' AND locality = '00'",
    )
    assert al[0] == Decimal("81.86") and al[1] == Decimal("81.86")  # Alabama has one locality
    assert al[2] is not None and al[3:] == ("CPT", "2026Q4")
    ((rows, localities, missing_state_avg),) = _sql(
        settings,
        "SELECT count(*), count(DISTINCT (carrier, locality)), count(*) FILTER "
        "(WHERE medicare_prof_stateavg_nonfacility IS NULL) FROM rates_warehouse.bench_medicare_professional",
    )
    assert localities == 109 and missing_state_avg == 0
    assert rows == _sql(settings, "SELECT count(*) FROM fee_schedules.pfs_amounts")[0][0]


@pytest.mark.slow
def test_star_schema_and_idempotent_partition_rerun(
    settings: Settings, world_server: WorldServer, world: WorldControl, tmp_path: Path
) -> None:
    catalog = world_catalog(world_server.base_url, tmp_path / "payers.yaml")
    settings = replace(settings, pt_catalog=catalog, pt_allow_private_urls=True, io_manager="duckdb")
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("nppes_monthly_job").execute_in_process(instance=instance).success
        for payer in ("uhc_tpa_sample", "dean_sample", "evry_sample"):
            toc = toc_partition_key(payer, datetime.now(UTC).strftime("%Y-%m"))  # the sample ToCs carry no date
            instance.add_dynamic_partitions(TOC_PARTITIONS, [toc])
            _run(defs, instance, [PAYER_TOC], toc)
        keys = instance.get_dynamic_partitions(FILE_PARTITIONS)
        assert len(keys) == 3
        for key in keys:
            for job in ("price_transparency_files", "fact_rate_job"):
                assert defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=key).success
        _run(defs, instance, [*DIMENSIONS, ICEBERG_STAR])

        per_file = "SELECT file_key, count(*), sum(hash(fact_uid, negotiated_rate, pos_set_id)) FROM " \
            "rates_warehouse.fact_rate GROUP BY 1 ORDER BY 1"  # fmt: skip
        before = _sql(settings, per_file)
        assert [k for k, *_ in before] == sorted(keys)
        assert (
            _sql(settings, "SELECT count(*) FROM rates_warehouse.fact_rate")[0][0]
            == _sql(settings, "SELECT count(*) FROM price_transparency.rates")[0][0]
        )
        payers = _sql(settings, "SELECT payer_slug, rate_rows FROM rates_warehouse.dim_payer ORDER BY 1")
        assert [p for p, _ in payers] == ["dean_sample", "evry_sample", "uhc_tpa_sample"]
        orphans = _sql(
            settings,
            "SELECT count(*) FROM rates_warehouse.fact_rate f LEFT JOIN rates_warehouse.dim_provider_group g "
            "USING (pg_uid) WHERE f.pg_uid IS NOT NULL AND g.pg_uid IS NULL",
        )
        assert orphans == [(0,)]
        # the payers' NPIs are the world's NPPES providers: every group's state is known, so tiles have state=
        states = _sql(
            settings,
            "SELECT count(*) FILTER (WHERE state IS NULL), count(DISTINCT state) FROM rates_warehouse.fact_rate "
            "WHERE pg_uid IS NOT NULL",
        )
        assert states[0][0] == 0 and states[0][1] > 1
        assert _sql(settings, "SELECT count(*) > 0 FROM rates_warehouse.xref_pg_member_npi") == [(True,)]
        # The same facts and dimensions in Iceberg, read back by DuckDB's iceberg extension
        iceberg = defs.resources["iceberg"]
        assert _iceberg(iceberg, per_file.replace("rates_warehouse.fact_rate", "{fact_rate}")) == before
        assert _iceberg(iceberg, "SELECT payer_slug, rate_rows FROM {dim_payer} ORDER BY 1") == payers
        fact_snapshots = len(iceberg.catalog().load_table(f"{iceberg.namespace}.fact_rate").snapshots())

        tiles = settings.data_dir / "tiles" / "fact_rate_enriched"
        tile_rows = f"SELECT count(*) FROM read_parquet('{tiles}/**/*.parquet', hive_partitioning = true)"
        assert duckdb.sql(tile_rows).fetchone() == (sum(n for _, n, _ in before),)
        files = sorted(p.relative_to(tiles).as_posix() for p in tiles.rglob("*.parquet"))
        assert {f.split("/")[0] for f in files} == {"payer=dean_sample", "payer=evry_sample", "payer=uhc_tpa_sample"}
        assert any(f.split("/")[1] in ("state=GA", "state=NC") for f in files)

        # Re-run one payer's partition: its rows and tiles are replaced, every partition's count and checksum
        # unchanged, no tile added or lost.
        rerun = defs.resolve_job_def("fact_rate_job").execute_in_process(instance=instance, partition_key=keys[0])
        assert rerun.success
        assert _sql(settings, per_file) == before
        assert _iceberg(iceberg, per_file.replace("rates_warehouse.fact_rate", "{fact_rate}")) == before
        assert len(iceberg.catalog().load_table(f"{iceberg.namespace}.fact_rate").snapshots()) > fact_snapshots
        # no dim_code or benchmark was built: every code is missing from dim_code and nothing is covered (warn)
        checks = {e.check_name: e.passed for e in rerun.get_asset_check_evaluations()}
        assert checks == {"codes_in_dim_code": False, "benchmark_coverage": False, "rates_sane": True}
        assert sorted(p.relative_to(tiles).as_posix() for p in tiles.rglob("*.parquet")) == files

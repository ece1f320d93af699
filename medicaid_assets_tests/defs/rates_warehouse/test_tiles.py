"""fact_rate_enriched: the join with every benchmark (one row per fact, the ratios right), the Hive layout, and the
replacement of exactly one partition's tiles on local disk and on S3 (moto on loopback)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from medicaid_assets.defs.rates_warehouse.resources import TilesResource
from medicaid_assets.defs.rates_warehouse.tiles import TILE_NAME, enriched_sql
from medicaid_assets_tests.infra.conftest import S3Server

UHC, AETNA = "uhc_ga__in-network-1", "aetna__in-network-9"


@pytest.fixture
def enriched(star_conn: duckdb.DuckDBPyConnection) -> str:
    star_conn.execute("""
        CREATE TABLE prof AS SELECT * FROM (VALUES
            ('GA', '01', 'CPT', '99213', '', 90.0, 70.0), ('GA', '99', 'CPT', '99213', '', 90.0, 70.0),
            ('NC', '00', 'CPT', '99213', '', 100.0, 80.0)) t(state, locality, code_type, code, modifier,
            medicare_prof_stateavg_nonfacility, medicare_prof_stateavg_facility);
        CREATE TABLE opps AS SELECT * FROM (VALUES ('GA', '27447', 12500.0)) t(state, code, medicare_opps_stateavg);
        CREATE TABLE wc_ga AS SELECT * FROM (VALUES ('GA', '99213', '', 'professional', 150.0),
            ('GA', '99213', '', 'opps', 1.0)) t(state, code, modifier, setting, wc_max);
    """)  # fmt: skip
    return enriched_sql("fact_rate", "dim_code", "prof", "opps", "bench_medicare_asc", ["wc_ga"])


def test_every_fact_row_once_with_its_benchmarks_and_ratios(star_conn: duckdb.DuckDBPyConnection, enriched: str):
    rows = star_conn.sql(
        f"SELECT payer, state, code, procedure_set, negotiated_rate, medicare_rate, rate_to_medicare, wc_max, "
        f"rate_to_wc, medicare_asc_stateavg FROM ({enriched}) ORDER BY payer, code, negotiated_rate"
    ).fetchall()
    assert len(rows) == star_conn.sql("SELECT count(*) FROM fact_rate").fetchone()[0]  # two GA localities: no dup
    assert rows == [
        ("aetna", None, "99213", "Evaluation and Management", 130.0, None, None, None, None, None),
        ("uhc_ga", "GA", "27447", "Surgery", 25000.0, None, None, None, None, 12000.0),  # professional: no PFS row
        ("uhc_ga", "NC", "99213", "Evaluation and Management", 95.0, 100.0, 0.95, None, None, None),
        ("uhc_ga", "GA", "99213", "Evaluation and Management", 120.5, 90.0, 120.5 / 90.0, 150.0, 120.5 / 150.0, None),
    ]


def _files(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in sorted(root.rglob("*.parquet"))}


def test_local_tiles_hive_layout_and_one_partition_replaced(
    star_conn: duckdb.DuckDBPyConnection, enriched: str, tmp_path: Path
) -> None:
    tiles = TilesResource(base=str(tmp_path / "tiles"))
    for key in (UHC, AETNA):
        written = tiles.replace_partition(
            star_conn, f"SELECT * FROM ({enriched}) WHERE file_key = '{key}'", TILE_NAME, key
        )
        assert written["stale_files_removed"] == 0
    root = tmp_path / "tiles" / TILE_NAME
    files = _files(root)
    assert (
        "payer=uhc_ga/state=GA/billing_class=professional/procedure_set=Evaluation%20and%20Management/"
        f"procedure_class=Office%2Foutpatient%20services/year=2025/month=8/{UHC}_0.parquet"
    ) in files
    assert any(f.startswith("payer=aetna/state=__HIVE_DEFAULT_PARTITION__/") for f in files)
    back = duckdb.sql(
        f"SELECT count(*), sum(negotiated_rate) FROM read_parquet('{root}/**/*.parquet', hive_partitioning = true)"
    ).fetchone()
    assert back == (4, 25345.5)
    aetna = {f: s for f, s in files.items() if AETNA in f}

    # uhc_ga's file now holds only the GA 99213 row: its other tiles go, aetna's stay byte for byte.
    star_conn.execute("DELETE FROM fact_rate WHERE file_key = ? AND NOT (state = 'GA' AND code = '99213')", [UHC])
    written = tiles.replace_partition(star_conn, f"SELECT * FROM ({enriched}) WHERE file_key = '{UHC}'", TILE_NAME, UHC)
    assert (written["rows"], written["files"], written["stale_files_removed"]) == (1, 1, 2)
    after = _files(root)
    assert {f: s for f, s in after.items() if AETNA in f} == aetna
    assert [f for f in after if UHC in f] == [f for f in files if UHC in f and "state=GA" in f and "Evaluation" in f]
    assert not list((tmp_path / "tiles").glob(f".{TILE_NAME}.staging/*"))  # staging cleaned


@pytest.mark.slow  # the moto server's start dominates
def test_s3_tiles_replace_one_partition(
    star_conn: duckdb.DuckDBPyConnection, enriched: str, s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    tiles = TilesResource(
        base=f"s3://{bucket}/warehouse", s3_endpoint_url=s3_server.endpoint_url, s3_region="us-east-1"
    )
    for key in (UHC, AETNA):
        tiles.replace_partition(star_conn, f"SELECT * FROM ({enriched}) WHERE file_key = '{key}'", TILE_NAME, key)
    client = s3_server.client()

    def keys() -> list[str]:
        return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))

    before = keys()
    assert len(before) == 4 and all(k.startswith(f"warehouse/{TILE_NAME}/payer=") for k in before)
    star_conn.execute("DELETE FROM fact_rate WHERE file_key = ? AND state = 'NC'", [UHC])
    written = tiles.replace_partition(star_conn, f"SELECT * FROM ({enriched}) WHERE file_key = '{UHC}'", TILE_NAME, UHC)
    assert written["stale_files_removed"] == 1
    assert keys() == [k for k in before if "state=NC" not in k]

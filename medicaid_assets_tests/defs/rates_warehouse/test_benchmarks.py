"""Benchmarks built from the real excerpts (pure functions), and the original's benchmark query run as written."""

from __future__ import annotations

import re

import duckdb
import polars as pl
import pytest

from medicaid_assets.defs.rates_warehouse import benchmarks
from medicaid_assets.defs.reference.fee_schedules.asc_parse import ADDENDUM_AA, parse_addendum_aa
from medicaid_assets.defs.reference.fee_schedules.opps_asc_cells import decode
from medicaid_assets.defs.reference.fee_schedules.opps_asc_common import addendum_frame
from medicaid_assets.defs.reference.fee_schedules.opps_parse import ADDENDUM_B, parse_addendum_b
from medicaid_assets_tests.conftest import REFERENCE

# The original README's "Medicare Benchmark Comparison", verbatim (less trailing spaces).
ORIGINAL_QUERY = """
SELECT
    f.state,
    f.code,
    f.negotiated_rate,
    asc.medicare_asc_stateavg as medicare_asc_rate,
    (f.negotiated_rate / asc.medicare_asc_stateavg) as rate_ratio
FROM fact_rate f
JOIN bench_medicare_asc asc ON f.state = asc.state
    AND f.code = asc.code
    AND f.code_type = asc.code_type
WHERE f.state = 'GA'
  AND f.negotiated_rate > 0
  AND asc.medicare_asc_stateavg > 0
ORDER BY rate_ratio DESC;
"""


def addendum_b(release: str = "2025Q1") -> pl.DataFrame:
    text = decode((REFERENCE / "opps_addendum_b_jan2025_excerpt.csv").read_bytes())
    return addendum_frame(parse_addendum_b(text), ADDENDUM_B, release)


def addendum_aa(name: str, release: str) -> pl.DataFrame:
    return addendum_frame(parse_addendum_aa(decode((REFERENCE / name).read_bytes())), ADDENDUM_AA, release)


def test_opps_benchmark_newest_release_paid_codes_every_state() -> None:
    older = addendum_b("2024Q4").with_columns(pl.col("payment_rate") * 0.5)
    bench = benchmarks.bench_medicare_opps(pl.concat([older, addendum_b()]))
    assert set(bench["release"]) == {"2025Q1"}
    us = bench.filter(pl.col("state") == "US")
    knee = us.filter(pl.col("code") == "27447").row(0, named=True)
    assert (knee["medicare_opps_national"], knee["apc"], knee["status_indicator"], knee["code_type"]) == (
        12866.82,
        "5115",
        "J1",
        "CPT",
    )
    assert us.filter(pl.col("code") == "G0463")["code_type"][0] == "HCPCS"
    assert "99213" not in us["code"].to_list()  # SI B: no OPPS payment
    assert bench.height == us.height * 55 and bench["state"].n_unique() == 55
    ga = bench.filter((pl.col("state") == "GA") & (pl.col("code") == "27447")).row(0, named=True)
    assert ga["medicare_opps_stateavg"] == 12866.82 and ga["wage_adjusted"] is False


def test_asc_benchmark_and_the_original_query_run_as_written() -> None:
    bench = benchmarks.bench_medicare_asc(
        pl.concat(
            [
                addendum_aa("asc_addendum_aa_jan2025_excerpt.csv", "2025Q1"),
                addendum_aa("asc_addendum_aa_jan2026_head40.csv", "2026Q1"),
            ]
        )
    )
    assert set(bench["release"]) == {"2026Q1"}
    assert bench.filter((pl.col("state") == "US") & (pl.col("code") == "0102T"))["medicare_asc_national"][0] == 1644.87
    fact_rate = pl.DataFrame(
        {
            "state": ["GA", "GA", "NC"],
            "code": ["0101T", "0102T", "0101T"],
            "code_type": ["CPT"] * 3,
            "negotiated_rate": [271.08, 1644.87, 500.0],
        }
    )
    conn = duckdb.connect()
    conn.register("fact_rate", fact_rate.to_arrow())
    conn.register("bench_medicare_asc", bench.to_arrow())
    # As written it does not parse in DuckDB: its alias `asc` is a reserved word (ORDER BY … ASC). Quoting the alias
    # is the only change needed; the tables and columns are the original's.
    with pytest.raises(duckdb.ParserException, match='syntax error at or near "asc"'):
        conn.sql(ORIGINAL_QUERY)
    quoted = re.sub(r"\basc\.", '"asc".', ORIGINAL_QUERY).replace(
        "bench_medicare_asc asc ON", 'bench_medicare_asc "asc" ON'
    )
    rows = conn.sql(quoted).fetchall()
    assert rows == [("GA", "0101T", 271.08, 135.54, 2.0), ("GA", "0102T", 1644.87, 1644.87, 1.0)]


def test_wc_benchmark_keeps_rows_with_an_amount_of_its_state() -> None:
    maximums = pl.DataFrame(
        {
            "state": ["GA", "GA", "GA", "NC"],
            "schedule_year": [2024, 2024, 2024, 2025],
            "code": ["00100", "27447", "10011", "27447"],
            "modifier": [""] * 4,
            "description": ["A", "B", "C", "D"],
            "category": ["Anesthesia", "Surgery", "Surgery", "Major surgery"],
            "setting": ["anesthesia", "asc", "professional", "professional_facility"],
            "max_amount": [None, 16262.19, None, 2296.87],
            "base_units": [5.0, None, None, None],
            "basis": ["fee_schedule"] * 4,
        }
    )
    ga = benchmarks.bench_wc(maximums, "GA")
    assert ga.select("code", "setting", "wc_max", "base_units").rows() == [
        ("00100", "anesthesia", None, 5.0),
        ("27447", "asc", 16262.19, None),
    ]  # the by-report row (no amount) is not a benchmark; NC's row is NC's
    assert set(ga["code_type"]) == {"CPT"}

"""The star schema SQL on a real DuckDB over rows shaped like the price-transparency tables, and the original
tool's two example queries run against it (the second with its reserved alias quoted, nothing else changed)."""

from __future__ import annotations

import duckdb
import pytest

from medicaid_assets.defs.rates_warehouse import star
from medicaid_assets_tests.defs.rates_warehouse.conftest import PG_A, PG_B

# The original's README, verbatim (trailing spaces dropped).
RATE_LOOKUP = """
SELECT
    f.negotiated_rate,
    c.code_description,
    p.reporting_entity_name,
    pg.provider_group_id_raw
FROM fact_rate f
JOIN dim_code c ON f.code_type = c.code_type AND f.code = c.code
JOIN dim_payer p ON f.payer_slug = p.payer_slug
JOIN dim_provider_group pg ON f.pg_uid = pg.pg_uid
WHERE f.state = 'GA'
  AND f.code = '99213'
  AND f.negotiated_rate > 100;
"""
ASC_RATIO = """
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


def test_fact_rate_rows_state_pos_sets_and_dates(star_conn: duckdb.DuckDBPyConnection) -> None:
    rows = star_conn.sql(
        "SELECT code, negotiated_rate, state, pg_uid, pos_set_id, year, month, payer_slug FROM fact_rate "
        "ORDER BY payer_slug, code, negotiated_rate"
    ).fetchall()
    assert [(r[0], r[1], r[2], r[5], r[6], r[7]) for r in rows] == [
        ("99213", 130.0, None, 2025, 7, "aetna"),  # no provider group: no state
        ("27447", 25000.0, "GA", 2025, 8, "uhc_ga"),
        ("99213", 95.0, "NC", 2025, 8, "uhc_ga"),
        ("99213", 120.5, "GA", 2025, 8, "uhc_ga"),
    ]
    # ["11", "22"] and ["22", "11"] are one set; None is the empty set.
    assert rows[2][4] == rows[3][4] != rows[1][4]
    assert star_conn.sql("SELECT count(DISTINCT fact_uid) = count(*) FROM fact_rate").fetchone() == (True,)
    sets = star_conn.sql("SELECT pos_members, pos_count FROM dim_pos_set ORDER BY pos_count, pos_members").fetchall()
    assert sets == [([], 0), (["11"], 1), (["11", "22"], 2)]


def test_dimensions_and_cross_references(star_conn: duckdb.DuckDBPyConnection) -> None:
    assert star_conn.sql("SELECT payer_slug, reporting_entity_name, files, rate_rows FROM dim_payer").fetchall() == [
        ("aetna", "Aetna", 1, 1),
        ("uhc_ga", "UnitedHealthcare of Georgia Inc.", 1, 3),
    ]
    assert star_conn.sql("SELECT pg_uid, provider_group_id_raw, rate_rows FROM dim_provider_group").fetchall() == [
        (PG_A, "690.64470", 2),
        (PG_B, "690.64470", 1),
    ]
    assert star_conn.sql("SELECT pg_uid, count(*) FROM xref_pg_member_npi GROUP BY 1 ORDER BY 1").fetchall() == [
        (PG_A, 2),
        (PG_B, 1),
    ]
    assert star_conn.sql("SELECT * FROM xref_pg_member_tin").fetchall() == [(PG_A, "ein", "123"), (PG_B, "ein", "456")]


def test_the_originals_two_queries(star_conn: duckdb.DuckDBPyConnection) -> None:
    assert star_conn.sql(RATE_LOOKUP).fetchall() == [
        (120.5, "Office o/p est low 20 min", "UnitedHealthcare of Georgia Inc.", "690.64470")
    ]
    # `asc` is a reserved word in DuckDB: the query as written fails to parse; quoting the alias is the only change.
    with pytest.raises(duckdb.ParserException):
        star_conn.sql(ASC_RATIO)
    quoted = ASC_RATIO.replace("asc.", '"asc".').replace("bench_medicare_asc asc", 'bench_medicare_asc "asc"')
    assert star_conn.sql(quoted).fetchall() == [("GA", "27447", 25000.0, 12000.0, 25000.0 / 12000.0)]


def test_code_type_follows_the_code_not_the_payers_label(star_conn: duckdb.DuckDBPyConnection) -> None:
    star_conn.execute("UPDATE rates SET billing_code_type = 'HCPCS' WHERE billing_code = '27447'")
    sql = star.fact_rate_sql("rates", "files", star.group_state_sql("providers", "addresses"))
    assert star_conn.sql(f"SELECT DISTINCT code_type FROM ({sql})").fetchall() == [("CPT",)]

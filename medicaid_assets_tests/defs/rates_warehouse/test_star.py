"""The star schema SQL on a real DuckDB over rows shaped like the price-transparency tables, and the original
tool's two example queries run against it (the second with its reserved alias quoted, nothing else changed)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from medicaid_assets.defs.price_transparency.normalize import PROVIDERS_SCHEMA, RATES_SCHEMA
from medicaid_assets.defs.rates_warehouse import star

PG_A, PG_B = "pg-a", "pg-b"
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


def _rate(code: str, rate: float, pg: str | None, file_key: str, service_codes: list[str] | None) -> dict:
    row = dict.fromkeys(RATES_SCHEMA.names)
    row.update(
        rate_uuid=f"r-{code}-{rate}", payer_uuid="payer-uuid", payer=file_key.split("__")[0], file_id="f", item_index=0,
        negotiation_arrangement="ffs", billing_code_type="CPT", billing_code=code, negotiated_type="negotiated",
        negotiated_rate=rate, expiration_date="9999-12-31", billing_class="professional", service_codes=service_codes,
        billing_code_modifiers=[], provider_group_ref="690.64470" if pg else None, provider_group_uuid=pg,
        organization_uuid="org" if pg else None, tin_type="ein" if pg else None, tin_value="123" if pg else None,
        npi_count=2 if pg else None,
    )  # fmt: skip
    return row


@pytest.fixture
def conn() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    rates = pa.Table.from_pylist(
        [
            _rate("99213", 120.5, PG_A, "uhc_ga__in-network-1", ["11", "22"]),
            _rate("99213", 95.0, PG_B, "uhc_ga__in-network-1", ["22", "11"]),
            _rate("27447", 25000.0, PG_A, "uhc_ga__in-network-1", None),
            _rate("99213", 130.0, None, "aetna__in-network-9", ["11"]),
        ],
        schema=RATES_SCHEMA,
    )
    conn.register("rates_in", rates)
    conn.execute("CREATE TABLE rates AS SELECT *, payer || '__in-network-' || (CASE payer WHEN 'uhc_ga' THEN '1' "
                 "ELSE '9' END) AS file_key FROM rates_in")  # fmt: skip
    providers = pa.Table.from_pylist(
        [
            {
                "npi": "1000000004",
                "npi_valid": True,
                "provider_group_uuid": PG_A,
                "tin_type": "ein",
                "tin_value": "123",
            },
            {
                "npi": "1000000012",
                "npi_valid": True,
                "provider_group_uuid": PG_A,
                "tin_type": "ein",
                "tin_value": "123",
            },
            {
                "npi": "1000000020",
                "npi_valid": True,
                "provider_group_uuid": PG_B,
                "tin_type": "ein",
                "tin_value": "456",
            },
        ],
        schema=PROVIDERS_SCHEMA,
    )
    conn.register("providers", providers)
    conn.execute("""
        CREATE TABLE files AS SELECT * FROM (VALUES
            ('uhc_ga__in-network-1', 'uhc_ga', 'UnitedHealthcare of Georgia Inc.', 'Health Insurance Issuer', DATE '2025-08-01'),
            ('aetna__in-network-9', 'aetna', 'Aetna', 'Health Insurance Issuer', DATE '2025-07-05'))
            t(file_key, payer, reporting_entity_name, reporting_entity_type, last_updated_date);
        CREATE TABLE addresses AS SELECT * FROM (VALUES
            ('1000000004', 'LOCATION', 'GA'), ('1000000004', 'MAILING', 'FL'), ('1000000012', 'LOCATION', 'GA'),
            ('1000000020', 'LOCATION', 'NC')) t(npi, address_purpose, state);
        CREATE TABLE dim_code AS SELECT * FROM (VALUES ('CPT', '99213', 'Office o/p est low 20 min'),
            ('CPT', '27447', 'Total knee arthroplasty')) t(code_type, code, code_description);
        CREATE TABLE bench_medicare_asc AS SELECT * FROM (VALUES ('GA', 'CPT', '27447', 12000.0))
            t(state, code_type, code, medicare_asc_stateavg);
    """)  # fmt: skip
    states = star.group_state_sql("providers", "addresses")
    conn.execute(f"CREATE TABLE fact_rate AS {star.fact_rate_sql('rates', 'files', states)}")
    for name, sql in {
        "dim_payer": star.dim_payer_sql("rates", "files"),
        "dim_pos_set": star.dim_pos_set_sql("rates"),
        "dim_provider_group": star.dim_provider_group_sql("rates"),
        "xref_pg_member_npi": star.xref_pg_member_npi_sql("providers"),
        "xref_pg_member_tin": star.xref_pg_member_tin_sql("providers"),
    }.items():
        conn.execute(f"CREATE TABLE {name} AS {sql}")
    return conn


def test_fact_rate_rows_state_pos_sets_and_dates(conn: duckdb.DuckDBPyConnection) -> None:
    rows = conn.sql(
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
    assert conn.sql("SELECT count(DISTINCT fact_uid) = count(*) FROM fact_rate").fetchone() == (True,)
    sets = conn.sql("SELECT pos_members, pos_count FROM dim_pos_set ORDER BY pos_count, pos_members").fetchall()
    assert sets == [([], 0), (["11"], 1), (["11", "22"], 2)]


def test_dimensions_and_cross_references(conn: duckdb.DuckDBPyConnection) -> None:
    assert conn.sql("SELECT payer_slug, reporting_entity_name, files, rate_rows FROM dim_payer").fetchall() == [
        ("aetna", "Aetna", 1, 1),
        ("uhc_ga", "UnitedHealthcare of Georgia Inc.", 1, 3),
    ]
    assert conn.sql("SELECT pg_uid, provider_group_id_raw, rate_rows FROM dim_provider_group").fetchall() == [
        (PG_A, "690.64470", 2),
        (PG_B, "690.64470", 1),
    ]
    assert conn.sql("SELECT pg_uid, count(*) FROM xref_pg_member_npi GROUP BY 1 ORDER BY 1").fetchall() == [
        (PG_A, 2),
        (PG_B, 1),
    ]
    assert conn.sql("SELECT * FROM xref_pg_member_tin").fetchall() == [(PG_A, "ein", "123"), (PG_B, "ein", "456")]


def test_the_originals_two_queries(conn: duckdb.DuckDBPyConnection) -> None:
    assert conn.sql(RATE_LOOKUP).fetchall() == [
        (120.5, "Office o/p est low 20 min", "UnitedHealthcare of Georgia Inc.", "690.64470")
    ]
    # `asc` is a reserved word in DuckDB: the query as written fails to parse; quoting the alias is the only change.
    with pytest.raises(duckdb.ParserException):
        conn.sql(ASC_RATIO)
    quoted = ASC_RATIO.replace("asc.", '"asc".').replace("bench_medicare_asc asc", 'bench_medicare_asc "asc"')
    assert conn.sql(quoted).fetchall() == [("GA", "27447", 25000.0, 12000.0, 25000.0 / 12000.0)]

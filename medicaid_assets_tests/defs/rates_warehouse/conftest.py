"""A small star schema on a real DuckDB, over rows shaped like the price-transparency tables (``star_conn``), and
the moto S3 server for the tiles."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from medicaid_assets.defs.price_transparency.normalize import PROVIDERS_SCHEMA, RATES_SCHEMA
from medicaid_assets.defs.rates_warehouse import star
from medicaid_assets_tests.infra.conftest import aws_env, bucket, s3_server  # noqa: F401

PG_A, PG_B = "pg-a", "pg-b"


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
def star_conn() -> duckdb.DuckDBPyConnection:
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
        CREATE TABLE dim_code AS SELECT * FROM (VALUES
            ('CPT', '99213', 'Office o/p est low 20 min', 'Evaluation and Management', 'Office/outpatient services'),
            ('CPT', '27447', 'Total knee arthroplasty', 'Surgery', 'Musculoskeletal system'))
            t(code_type, code, code_description, procedure_set, procedure_class);
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

"""The marts' SQL building blocks agree with the Python rules they restate."""

import duckdb

from medicaid_assets.core.npi import is_valid_npi, make_npi
from medicaid_assets.defs.medicaid_spending.marts_sql import code_kind_sql, npi_valid_sql


def test_npi_check_digit_in_sql_matches_python() -> None:
    values = [make_npi(b) for b in range(100_000_000, 300_000_000, 7_654_321)]
    values += ["1234567893", "1234567890", "abcdefghij", "123456789", "12345678931", " 1234567893", ""]
    with duckdb.connect() as conn:
        conn.execute("CREATE TABLE t AS SELECT unnest($v) AS npi", {"v": values})
        got = dict(conn.execute(f"SELECT npi, coalesce({npi_valid_sql('npi')}, false) FROM t").fetchall())
    assert got == {v: is_valid_npi(v) for v in values}


def test_code_kinds_from_the_code_shape() -> None:
    cases = {
        "99213": "CPT",
        "0001F": "CPT",
        "0042T": "CPT",
        "D1110": "CDT",
        "T1019": "Level II",
        "0450": "revenue",
        "99213GT": "modifier-suffixed",
        " j3301 ": "Level II",
        "VOID": "junk",
        "123": "junk",
    }
    with duckdb.connect() as conn:
        got = {code: conn.execute(f"SELECT {code_kind_sql('$c')}", {"c": code}).fetchone()[0] for code in cases}
    assert got == cases

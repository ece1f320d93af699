"""The Medicaid-to-Medicare fee index on a hand-computed example."""

from datetime import date
from decimal import Decimal

import duckdb
import pyarrow as pa

from medicaid_assets.defs.medicaid_spending.marts_sql import fee_index_table

PFS_ROWS = [
    # release, code, modifier, state, non-facility, facility
    ("2026Q4", "99213", "", "AL", "81.86", "60.00"),
    ("2026Q4", "99213", "26", "AL", "10.00", "10.00"),  # a component row: never compared
    ("2026Q3", "99213", "", "AL", "1.00", "1.00"),  # an older release: ignored
    ("2026Q4", "99213", "", "GA", "90.00", "70.00"),
]


def _pfs() -> pa.Table:
    columns = list(zip(*PFS_ROWS, strict=True))
    money = pa.decimal128(12, 2)
    return pa.table(
        {
            "release": columns[0],
            "hcpcs_code": columns[1],
            "modifier": columns[2],
            "state": columns[3],
            "non_facility_amount": pa.array([Decimal(v) for v in columns[4]], money),
            "facility_amount": pa.array([Decimal(v) for v in columns[5]], money),
        }
    )


def test_index_is_paid_per_claim_over_the_state_amount() -> None:
    rows = [
        # claim_month, code, state, claims, paid
        (date(2024, 3, 1), "99213", "AL", 10, 500.0),
        (date(2024, 7, 1), "99213 ", "AL", 30, 1500.0),  # the file's codes may carry spaces
        (date(2023, 1, 1), "99213", "AL", 20, 1000.0),  # another year: its own row
        (date(2024, 1, 1), "99213", "TX", 50, 2500.0),  # no PFS amount for TX in this example: no row
        (date(2024, 1, 1), "J3301", "AL", 50, 2500.0),  # not priced by the PFS: no row
        (date(2024, 2, 1), "99213", "GA", 12, 1080.0),
    ]
    with duckdb.connect() as conn:
        conn.execute(
            "CREATE TABLE t (claim_month DATE, hcpcs_code VARCHAR, billing_state VARCHAR, claims BIGINT, paid DOUBLE)"
        )
        conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
        got = {(r["state"], r["year"]): r for r in fee_index_table(conn, "t", _pfs()).to_pylist()}
    assert set(got) == {("AL", 2024), ("AL", 2023), ("GA", 2024)}
    al = got[("AL", 2024)]
    # (500 + 1500) / (10 + 30) = 50.00 per claim; 50 / 81.86 = 0.6108; 50 / 60 = 0.8333
    assert (al["claims"], al["paid"], al["medicaid_paid_per_claim"]) == (40, 2000.0, 50.0)
    assert (al["index_non_facility"], al["index_facility"], al["pfs_release"]) == (0.6108, 0.8333, "2026Q4")
    assert got[("GA", 2024)]["index_non_facility"] == 1.0  # 1080 / 12 = 90 = the GA amount
    assert got[("AL", 2023)]["index_facility"] == round(50 / 60, 4)

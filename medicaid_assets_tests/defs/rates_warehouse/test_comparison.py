"""code_price_comparison on a real DuckDB: the four sources side by side per code × state × year, counts and
sources, rows present in only one source kept."""

from __future__ import annotations

import duckdb

from medicaid_assets.defs.rates_warehouse.comparison import NO_MEDICAID, comparison_sql, medicaid_sql


def _tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("""
        CREATE TABLE spending_enriched AS SELECT * FROM (VALUES
            ('99213 ', 'GA', DATE '2025-01-01', 10, 500.0), ('99213', 'GA', DATE '2025-02-01', 30, 1500.0),
            ('99213', 'GA', DATE '2024-02-01', 4, 160.0), ('J1100', 'GA', DATE '2025-01-01', 0, 0.0))
            t(hcpcs_code, billing_state, claim_month, claims, paid);
        CREATE TABLE prof AS SELECT * FROM (VALUES
            ('GA', '01', '99213', '', 90.0, 'x'), ('GA', '99', '99213', '', 90.0, 'x'), ('GA', '01', '99213', '26', 30.0, 'x'))
            t(state, locality, code, modifier, medicare_prof_stateavg_nonfacility, carrier);
        ALTER TABLE prof ADD COLUMN release VARCHAR DEFAULT '2026Q4';
        CREATE TABLE wc_ga AS SELECT * FROM (VALUES ('GA', '99213', '', 'professional', 150.0, 2024),
            ('GA', '99213', '', 'opps', 1.0, 2024)) t(state, code, modifier, setting, wc_max, schedule_year);
    """)  # fmt: skip


def test_four_payers_per_code_state_year(star_conn: duckdb.DuckDBPyConnection) -> None:
    _tables(star_conn)
    sql = comparison_sql("fact_rate", medicaid_sql("spending_enriched"), "prof", ["wc_ga"])
    rows = {(r["code"], r["state"], r["year"]): r for r in star_conn.sql(sql).pl().to_dicts()}
    # GA 99213: Medicaid 2000/40 = 50 in 2025; commercial: one GA rate (120.5) of 2025; Medicare 90; WC 150.
    ga = rows[("99213", "GA", 2025)]
    assert (ga["medicaid_paid_per_claim"], ga["medicaid_claims"]) == (50.0, 40)
    assert (ga["commercial_median"], ga["commercial_rates"], ga["commercial_payers"]) == (120.5, 1, 1)
    assert (ga["medicare_amount"], ga["wc_max"], ga["wc_rows"]) == (90.0, 150.0, 1)
    assert ga["commercial_to_medicare"] == round(120.5 / 90, 3) and ga["medicaid_to_medicare"] == round(50 / 90, 3)
    assert ga["medicare_source"].startswith("PFS 2026Q4") and ga["wc_source"] == (
        "GA workers' comp fee schedule 2024, professional"
    )
    # Medicaid only (2024): no commercial columns; Medicare and WC still attached.
    old = rows[("99213", "GA", 2024)]
    assert old["commercial_rates"] is None and old["commercial_source"] is None and old["medicare_amount"] == 90.0
    # commercial only: NC 99213 and GA 27447; no claims: J1100 dropped; no state: the aetna rate dropped.
    assert set(rows) == {("99213", "GA", 2025), ("99213", "GA", 2024), ("99213", "NC", 2025), ("27447", "GA", 2025)}
    assert rows[("27447", "GA", 2025)]["medicaid_source"] is None


def test_without_medicaid_or_benchmarks(star_conn: duckdb.DuckDBPyConnection) -> None:
    rows = star_conn.sql(comparison_sql("fact_rate", NO_MEDICAID, None, [])).fetchall()
    assert len(rows) == 3

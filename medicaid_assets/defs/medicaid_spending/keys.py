"""What other families may use of Medicaid Provider Spending: asset keys, the table, its partitions."""

import hashlib
from datetime import date
from typing import Any

import dagster as dg

GROUP = "medicaid_spending"
SPENDING_FILE = dg.AssetKey(["raw", "medicaid_spending_file"])
SPENDING = dg.AssetKey(["warehouse", "spending"])
SPENDING_TABLE = "spending"  # warehouse table (schema main), one row per provider × code × month
LOADS_TABLE = "spending_loads"  # one row per loaded month: the file and totals it was loaded from

FIRST_MONTH = date(2018, 1, 1)
END_MONTH = date(2025, 1, 1)  # exclusive: the file covers Jan 2018 - Dec 2024
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH.isoformat(), end_date=END_MONTH.isoformat())


def table_state(conn: Any) -> str | None:
    """A digest of which file each month of the table was loaded from and when (None before any recorded load):
    what is derived from the table is current while this stays the same."""
    loaded = conn.execute(
        f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{LOADS_TABLE}' AND NOT temporary"
    ).fetchone()[0]
    if not loaded:
        return None
    rows = conn.execute(
        f"SELECT month, fingerprint, rows, total_paid, loaded_at FROM {LOADS_TABLE} ORDER BY month"
    ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest() if rows else None


# ---- Analysis marts (group medicaid_marts; DuckDB schema medicaid_spending, written in place) ----------------------
MARTS_GROUP = "medicaid_marts"
MARTS_SCHEMA = "medicaid_spending"
SPENDING_ENRICHED = dg.AssetKey(["marts", "spending_enriched"])
SPENDING_ENRICHED_WEEKLY = dg.AssetKey(["marts", "spending_enriched_npi_refresh"])
SPENDING_ENRICHED_TABLE = f"{MARTS_SCHEMA}.spending_enriched"  # one row per spending row, column claim_month
STATE_MONTH_KIND = dg.AssetKey(["marts", "spending_by_state_month_kind"])
PROVIDER_TOTALS = dg.AssetKey(["marts", "spending_by_provider"])
CODE_TOTALS = dg.AssetKey(["marts", "spending_by_code"])
FEE_INDEX = dg.AssetKey(["marts", "medicaid_medicare_fee_index"])
SCREENING = dg.AssetKey(["marts", "provider_screening"])

"""The spending file's schema: both column spellings, validation, and the normalising SELECT."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

# Canonical (original) spelling -> accepted spellings, first is canonical.
COLUMNS: dict[str, tuple[str, ...]] = {
    "BILLING_PROVIDER_NPI_NUM": ("BILLING_PROVIDER_NPI_NUM",),
    "SERVICING_PROVIDER_NPI_NUM": ("SERVICING_PROVIDER_NPI_NUM",),
    "HCPCS_CODE": ("HCPCS_CODE",),
    "CLAIM_FROM_MONTH": ("CLAIM_FROM_MONTH",),
    "TOTAL_UNIQUE_BENEFICIARIES": ("TOTAL_UNIQUE_BENEFICIARIES", "TOTAL_PATIENTS", "TOTAL_BENEFICIARIES"),
    "TOTAL_CLAIMS": ("TOTAL_CLAIMS", "TOTAL_CLAIM_LINES"),
    "TOTAL_PAID": ("TOTAL_PAID",),
}
TABLE_DDL = """
CREATE TABLE IF NOT EXISTS spending (
    BILLING_PROVIDER_NPI_NUM VARCHAR,
    SERVICING_PROVIDER_NPI_NUM VARCHAR,
    HCPCS_CODE VARCHAR,
    CLAIM_FROM_MONTH DATE NOT NULL,
    TOTAL_UNIQUE_BENEFICIARIES BIGINT,
    TOTAL_CLAIMS BIGINT,
    TOTAL_PAID DOUBLE
)
"""


# Canonical column -> arrow type families the file may use for it (any other type is refused up front).
TYPE_FAMILIES: dict[str, tuple[str, ...]] = {
    "BILLING_PROVIDER_NPI_NUM": ("string", "large_string", "int", "uint"),
    "SERVICING_PROVIDER_NPI_NUM": ("string", "large_string", "int", "uint"),
    "HCPCS_CODE": ("string", "large_string", "int"),
    "CLAIM_FROM_MONTH": ("date", "timestamp", "string", "large_string"),
    "TOTAL_UNIQUE_BENEFICIARIES": ("int", "uint"),
    "TOTAL_CLAIMS": ("int", "uint"),
    "TOTAL_PAID": ("double", "float", "decimal", "int"),
}
# What each column means (HHS's data dictionary), for the column schema the UI shows.
COLUMN_DESCRIPTIONS: dict[str, str] = {
    "BILLING_PROVIDER_NPI_NUM": "NPI of the provider that billed Medicaid (10 digits with a check digit)",
    "SERVICING_PROVIDER_NPI_NUM": "NPI of the provider that performed the service; empty when not reported",
    "HCPCS_CODE": "procedure code: CPT (5 digits) or HCPCS Level II (a letter and 4 digits)",
    "CLAIM_FROM_MONTH": "first day of the month of service (the table's partition)",
    "TOTAL_UNIQUE_BENEFICIARIES": "distinct beneficiaries with such claims in the month (small counts suppressed)",
    "TOTAL_CLAIMS": "number of claims for this provider, code and month",
    "TOTAL_PAID": "amount Medicaid paid for those claims, in US dollars",
}
# The warehouse table's columns and DuckDB types, in order.
TABLE_COLUMNS: dict[str, str] = {
    "BILLING_PROVIDER_NPI_NUM": "VARCHAR",
    "SERVICING_PROVIDER_NPI_NUM": "VARCHAR",
    "HCPCS_CODE": "VARCHAR",
    "CLAIM_FROM_MONTH": "DATE",
    "TOTAL_UNIQUE_BENEFICIARIES": "BIGINT",
    "TOTAL_CLAIMS": "BIGINT",
    "TOTAL_PAID": "DOUBLE",
}


class SpendingFileError(ValueError):
    """The spending file is unreadable or lacks a required column; the message says which."""


@dataclass(frozen=True)
class SpendingFile:
    path: Path
    rows: int
    mapping: dict[str, str]  # canonical name -> name in the file
    schema: dict[str, str]  # name in the file -> arrow type

    @property
    def spelling(self) -> str:
        renamed = self.mapping["TOTAL_CLAIMS"] != "TOTAL_CLAIMS"
        return "later (TOTAL_PATIENTS/TOTAL_CLAIM_LINES)" if renamed else "original"


def inspect_spending_file(path: Path) -> SpendingFile:
    """Read the parquet footer and map columns to canonical names; raise naming what is wrong."""
    try:
        meta = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a truncated or non-parquet file
        raise SpendingFileError(f"{path}: not a readable parquet file ({exc})") from exc
    schema = {field.name: str(field.type) for field in meta.schema_arrow}
    upper = {name.upper(): name for name in schema}
    mapping: dict[str, str] = {}
    missing = []
    for canonical, spellings in COLUMNS.items():
        found = next((upper[s] for s in spellings if s in upper), None)
        if found is None:
            missing.append(" or ".join(spellings))
        else:
            mapping[canonical] = found
    if missing:
        raise SpendingFileError(f"{path}: missing required column(s): {', '.join(missing)}; found {sorted(schema)}")
    wrong = [
        f"{mapping[c]} is {schema[mapping[c]]}"
        for c, families in TYPE_FAMILIES.items()
        if not schema[mapping[c]].startswith(families)
    ]
    if wrong:
        raise SpendingFileError(f"{path}: column(s) of an unexpected type: {'; '.join(wrong)}")
    return SpendingFile(path=path, rows=meta.metadata.num_rows, mapping=mapping, schema=schema)


def check_text(spending: SpendingFile) -> None:
    """Read every text column through once (DuckDB, in memory): bytes that are not UTF-8, parquet's declared
    encoding, are refused here, before the file replaces a good one, not half-way through a warehouse load."""
    text = [name for name, type_ in spending.schema.items() if type_ in ("string", "large_string")]
    if not text:
        return
    lengths = ", ".join(f'max(length("{name}"))' for name in text)
    path = str(spending.path).replace("'", "''")
    conn = duckdb.connect()
    try:
        conn.execute(f"SELECT {lengths} FROM read_parquet('{path}')").fetchall()
    except duckdb.Error as exc:
        raise SpendingFileError(f"{spending.path}: {exc}") from exc
    finally:
        conn.close()


def is_typed_month(arrow_type: str | None) -> bool:
    """True when the file stores months as DATE or zone-less TIMESTAMP values (not text)."""
    return arrow_type is not None and (
        arrow_type.startswith("date") or (arrow_type.startswith("timestamp") and "tz=" not in arrow_type)
    )


def month_expr(column: str, arrow_type: str | None = None) -> str:
    """SQL turning a DATE, ``YYYY-MM-01`` or ``YYYY-MM`` value into the first day of its month.

    With the file's ``arrow_type`` a DATE/TIMESTAMP column is only truncated: parsing its text form costs
    a tenth of the whole load at 227M rows.
    """
    if is_typed_month(arrow_type):
        return f"CAST(date_trunc('month', {column}) AS DATE)"
    text = f"TRIM(CAST({column} AS VARCHAR))"
    return (
        f"CAST(date_trunc('month', COALESCE(TRY_CAST({text} AS DATE), "
        f"CAST(TRY_STRPTIME({text}, '%Y-%m') AS DATE))) AS DATE)"
    )


def _file_month(spending: SpendingFile) -> str:
    """The month as a predicate should test it: the file's own column when typed (DuckDB then skips whole row
    groups by their statistics), else the parsed month. Bounds compared with it must be first days of months,
    for which ``date_trunc('month', x) < b`` and ``x < b`` agree."""
    column = f'"{spending.mapping["CLAIM_FROM_MONTH"]}"'
    arrow_type = spending.schema.get(spending.mapping["CLAIM_FROM_MONTH"])
    return column if is_typed_month(arrow_type) else month_expr(column, arrow_type)


def out_of_range_sql(spending: SpendingFile) -> str:
    """``SELECT count(*)`` of the file's rows whose month is missing or outside ``[?, ?)`` (first days of months).

    A typed month column is answered from the parquet statistics, without reading the rows.
    """
    month = _file_month(spending)
    path = str(spending.path).replace("'", "''")
    return f"SELECT count(*) FROM read_parquet('{path}') WHERE {month} IS NULL OR {month} < ? OR {month} >= ?"


def normalised_select(spending: SpendingFile, window: bool = False) -> str:
    """SELECT over ``read_parquet`` that yields the warehouse columns in the original spelling.

    ``window``: only the months in ``[?, ?)`` (two parameters, first days of months), filtered on the file's
    column so that a one-month load reads only the row groups that can hold that month.
    """
    m = spending.mapping
    path = str(spending.path).replace("'", "''")
    month = _file_month(spending)
    where = f"WHERE {month} >= ? AND {month} < ?" if window else ""
    return f"""
        SELECT
            CAST("{m["BILLING_PROVIDER_NPI_NUM"]}" AS VARCHAR) AS BILLING_PROVIDER_NPI_NUM,
            CAST("{m["SERVICING_PROVIDER_NPI_NUM"]}" AS VARCHAR) AS SERVICING_PROVIDER_NPI_NUM,
            CAST("{m["HCPCS_CODE"]}" AS VARCHAR) AS HCPCS_CODE,
            {month_expr(f'"{m["CLAIM_FROM_MONTH"]}"', spending.schema.get(m["CLAIM_FROM_MONTH"]))} AS CLAIM_FROM_MONTH,
            CAST("{m["TOTAL_UNIQUE_BENEFICIARIES"]}" AS BIGINT) AS TOTAL_UNIQUE_BENEFICIARIES,
            CAST("{m["TOTAL_CLAIMS"]}" AS BIGINT) AS TOTAL_CLAIMS,
            CAST("{m["TOTAL_PAID"]}" AS DOUBLE) AS TOTAL_PAID
        FROM read_parquet('{path}')
        {where}
    """


# -- loading months into the table ------------------------------------------------------------------------

LOAD_VERSION = 1  # bump when the normalising SELECT changes what a load writes: every month then reloads
LOADS_DDL = """
CREATE TABLE IF NOT EXISTS spending_loads (
    month DATE NOT NULL,            -- one row per month of the table
    fingerprint VARCHAR NOT NULL,   -- the file it came from: name, size, mtime, column mapping, LOAD_VERSION
    rows BIGINT NOT NULL,           -- rows of that month when it was loaded
    total_paid DOUBLE,              -- and their sum(TOTAL_PAID): with rows, a cheap check that nobody changed them
    loaded_at TIMESTAMP NOT NULL    -- UTC
)
"""
_MONTH_TOTALS = (
    "SELECT CLAIM_FROM_MONTH, count(*), sum(TOTAL_PAID) FROM spending "
    "WHERE CLAIM_FROM_MONTH >= ? AND CLAIM_FROM_MONTH < ? GROUP BY ALL"
)


def file_fingerprint(spending: SpendingFile) -> str:
    """What identifies the rows a load writes, without reading the file: a new download (or a new release)
    changes size or mtime, a different spelling changes the mapping, new normalising code ``LOAD_VERSION``."""
    st = spending.path.stat()
    identity = {
        "version": LOAD_VERSION,
        "file": spending.path.name,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "mapping": spending.mapping,
    }
    return json.dumps(identity, sort_keys=True)


def month_starts(start: date, end: date) -> list[date]:
    """First days of the months in ``[start, end)``."""
    months, month = [], date(start.year, start.month, 1)
    while month < end:
        months.append(month)
        month = _next_month(month)
    return months


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _same_totals(recorded: tuple[int, float | None], found: tuple[int, float | None]) -> bool:
    (rows, paid), (found_rows, found_paid) = recorded, found
    if rows != found_rows:
        return False
    if paid is None or found_paid is None:
        return paid is None and found_paid is None
    return math.isclose(paid, found_paid, rel_tol=1e-9, abs_tol=1e-6)  # parallel sums differ in the last bits


def stale_months(conn: Any, spending: SpendingFile, start: date, end: date) -> list[date]:
    """Months of ``[start, end)`` not loaded from this very file, or whose rows (count, paid total) changed since."""
    recorded = {
        month: (rows, paid)
        for month, rows, paid in conn.execute(
            "SELECT month, rows, total_paid FROM spending_loads WHERE month >= ? AND month < ? AND fingerprint = ?",
            [start, end, file_fingerprint(spending)],
        ).fetchall()
    }
    found = {month: (rows, paid) for month, rows, paid in conn.execute(_MONTH_TOTALS, [start, end]).fetchall()}
    return [
        month
        for month in month_starts(start, end)
        if month not in recorded or not _same_totals(recorded[month], found.get(month, (0, None)))
    ]


def load_window(conn: Any, spending: SpendingFile, start: date, end: date) -> list[date]:
    """Make the table's months ``[start, end)`` those of the file, in one transaction; returns the months
    rewritten: those :func:`stale_months` names (none when nothing is new, and a re-run then costs a lookup).

    Each run of consecutive stale months is one DELETE and one INSERT filtered on the file's month column as
    typed, so DuckDB reads only the row groups that can hold them; ``spending_loads`` records each month's
    source, rows and paid total in the same transaction.
    """
    conn.execute(TABLE_DDL)
    conn.execute(LOADS_DDL)
    stale = stale_months(conn, spending, start, end)
    if not stale:
        return []
    windows: list[list[date]] = []  # [first, end) of each run of consecutive stale months
    for month in stale:
        if windows and windows[-1][1] == month:
            windows[-1][1] = _next_month(month)
        else:
            windows.append([month, _next_month(month)])
    fingerprint, loaded_at = file_fingerprint(spending), datetime.now(UTC).replace(tzinfo=None)
    conn.execute("BEGIN TRANSACTION")
    try:
        for first, stop in windows:
            conn.execute("DELETE FROM spending WHERE CLAIM_FROM_MONTH >= ? AND CLAIM_FROM_MONTH < ?", [first, stop])
            conn.execute(f"INSERT INTO spending {normalised_select(spending, window=True)}", [first, stop])
            totals = {m: (rows, paid) for m, rows, paid in conn.execute(_MONTH_TOTALS, [first, stop]).fetchall()}
            conn.execute("DELETE FROM spending_loads WHERE month >= ? AND month < ?", [first, stop])
            conn.executemany(
                "INSERT INTO spending_loads VALUES (?, ?, ?, ?, ?)",
                [(month, fingerprint, *totals.get(month, (0, None)), loaded_at) for month in month_starts(first, stop)],
            )
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return stale

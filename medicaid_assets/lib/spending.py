"""The spending file's schema: both column spellings, validation, and the normalising SELECT."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

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
    return SpendingFile(path=path, rows=meta.metadata.num_rows, mapping=mapping, schema=schema)


def unpack_if_compressed(path: Path) -> Path:
    """The parquet inside a ``.zip`` or ``.gz`` download (extracted beside it once), else ``path``."""
    if path.suffix == ".gz":
        target = path.with_suffix("")
        if not target.exists():
            tmp = target.with_name(target.name + ".tmp")
            with gzip.open(path, "rb") as src, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            tmp.replace(target)
        return target
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if m.filename.lower().endswith(".parquet") and not m.is_dir()]
            if len(members) != 1:
                raise SpendingFileError(f"{path}: expected one .parquet member, found {[m.filename for m in members]}")
            target = path.with_name(Path(members[0].filename).name)
            if not target.exists():
                tmp = target.with_name(target.name + ".tmp")
                with zf.open(members[0]) as src, tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                tmp.replace(target)
        return target
    return path


def month_expr(column: str) -> str:
    """SQL turning a DATE, ``YYYY-MM-01`` or ``YYYY-MM`` value into the first day of its month."""
    text = f"TRIM(CAST({column} AS VARCHAR))"
    return (
        f"CAST(date_trunc('month', COALESCE(TRY_CAST({text} AS DATE), "
        f"CAST(TRY_STRPTIME({text}, '%Y-%m') AS DATE))) AS DATE)"
    )


def normalised_select(spending: SpendingFile) -> str:
    """SELECT over ``read_parquet`` that yields the warehouse columns in the original spelling."""
    m = spending.mapping
    path = str(spending.path).replace("'", "''")
    return f"""
        SELECT
            CAST("{m["BILLING_PROVIDER_NPI_NUM"]}" AS VARCHAR) AS BILLING_PROVIDER_NPI_NUM,
            CAST("{m["SERVICING_PROVIDER_NPI_NUM"]}" AS VARCHAR) AS SERVICING_PROVIDER_NPI_NUM,
            CAST("{m["HCPCS_CODE"]}" AS VARCHAR) AS HCPCS_CODE,
            {month_expr(f'"{m["CLAIM_FROM_MONTH"]}"')} AS CLAIM_FROM_MONTH,
            CAST("{m["TOTAL_UNIQUE_BENEFICIARIES"]}" AS BIGINT) AS TOTAL_UNIQUE_BENEFICIARIES,
            CAST("{m["TOTAL_CLAIMS"]}" AS BIGINT) AS TOTAL_CLAIMS,
            CAST("{m["TOTAL_PAID"]}" AS DOUBLE) AS TOTAL_PAID
        FROM read_parquet('{path}')
    """

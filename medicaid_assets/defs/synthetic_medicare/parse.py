"""The release's delimited files: which file a name is, one header-synonym map, and how each column is typed.

Pure functions (no Dagster). Two spellings exist of the same layouts: the data.cms.gov public release
(``BENE_ID|STATE_CODE|COUNTY_CD|ZIP_CD|…``, 185 beneficiary columns) and the Blue Button (BFD) RIF samples (a
leading ``DML_IND``, ``BENE_``-prefixed and month-named synonyms, a UTF-8 BOM in beneficiary files). Both are
normalized through :data:`SYNONYMS` to the public release's names. Every value is read as text first (ZIP,
county and state codes keep their leading zeros), ``NA`` and empty become null, then each column is cast
deliberately by its name: dates (``14-Aug-1990``), amounts, counts, ids; the rest stays text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from medicaid_assets.core.values import sql_string
from medicaid_assets.defs.synthetic_medicare.keys import BENEFICIARY, CLAIM_TYPES, PDE

DELIMITER = "|"
NULL_TOKENS = ("NA", "")
DATE_FORMAT = "%d-%b-%Y"
BOM = "\ufeff"
MAX_HEADER_BYTES = 64 * 1024

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEPT", "OCT", "NOV", "DEC")


def _rif_synonyms() -> dict[str, str]:
    """BFD RIF name -> public release name (beneficiary layout; claim and PDE names are the same in both)."""
    pairs = {
        "BENE_COUNTY_CD": "COUNTY_CD",
        "BENE_ZIP_CD": "ZIP_CD",
        "BENE_SEX_IDENT_CD": "SEX_IDENT_CD",
        "BENE_ENTLMT_RSN_ORIG": "ENTLMT_RSN_ORIG",
        "BENE_ENTLMT_RSN_CURR": "ENTLMT_RSN_CURR",
        "BENE_ESRD_IND": "ESRD_IND",
        "DEATH_DT": "BENE_DEATH_DT",
        "RFRNC_YR": "BENE_ENROLLMT_REF_YR",
        "A_MO_CNT": "BENE_HI_CVRAGE_TOT_MONS",
        "B_MO_CNT": "BENE_SMI_CVRAGE_TOT_MONS",
        "BUYIN_MO_CNT": "BENE_STATE_BUYIN_TOT_MONS",
        "HMO_MO_CNT": "BENE_HMO_CVRAGE_TOT_MONS",
        "RDS_MO_CNT": "RDS_CVRG_MONS",
        "EFIVEPCT": "ENHANCED_FIVE_PERCENT_FLAG",
        "CRNT_BIC": "CRNT_BIC_CD",
        "AGE": "AGE_AT_END_REF_YR",
        "DUAL_MO_CNT": "DUAL_ELGBL_MONS",
        "V_DOD_SW": "VALID_DEATH_DT_SW",
        "PLAN_CVRG_MO_CNT": "PTD_PLAN_CVRG_MONS",
    }
    monthly = {  # RIF pattern with {m} (month name) or {n} (1..12) -> public stem + _01.._12
        "FIPS_STATE_CNTY_{m}_CD": "STATE_CNTY_FIPS_CD",
        "MDCR_STUS_{m}_CD": "MDCR_STATUS_CODE",
        "MDCR_ENTLMT_BUYIN_{n}_IND": "MDCR_ENTLMT_BUYIN_IND",
        "HMO_{n}_IND": "HMO_IND",
        "PTC_CNTRCT_{m}_ID": "PTC_CNTRCT_ID",
        "PTC_PBP_{m}_ID": "PTC_PBP_ID",
        "PTC_PLAN_TYPE_{m}_CD": "PTC_PLAN_TYPE_CD",
        "PTD_CNTRCT_{m}_ID": "PTD_CNTRCT_ID",
        "PTD_PBP_{m}_ID": "PTD_PBP_ID",
        "PTD_SGMT_{m}_ID": "PTD_SGMT_ID",
        "RDS_{m}_IND": "RDS_IND",
        "META_DUAL_ELGBL_STUS_{m}_CD": "DUAL_STUS_CD",
        "CST_SHR_GRP_{m}_CD": "CST_SHR_GRP_CD",
    }
    for pattern, stem in monthly.items():
        for i, month in enumerate(MONTHS, start=1):
            pairs[pattern.format(m=month, n=i)] = f"{stem}_{i:02d}"
    return pairs


# The one header-synonym map: any spelling -> the public release's name. ``DML_IND`` (the RIF's insert/update
# marker) maps to None: it is not data.
SYNONYMS: dict[str, str | None] = {**_rif_synonyms(), "DML_IND": None}

# Columns every file of a type must have after normalization (the models read them).
REQUIRED: dict[str, tuple[str, ...]] = {
    BENEFICIARY: ("BENE_ID", "STATE_CODE", "COUNTY_CD", "ZIP_CD", "BENE_BIRTH_DT", "SEX_IDENT_CD", "BENE_RACE_CD"),
    **{t: ("BENE_ID", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT", "CLM_PMT_AMT") for t in CLAIM_TYPES},
    PDE: ("PDE_ID", "BENE_ID", "SRVC_DT", "PROD_SRVC_ID", "TOT_RX_CST_AMT"),
}

ID_COLUMNS = frozenset({"BENE_ID", "CLM_ID", "CLM_GRP_ID", "PDE_ID"})
INTEGER_COLUMNS = frozenset(
    {"BENE_ENROLLMT_REF_YR", "AGE_AT_END_REF_YR", "LINE_NUM", "CLM_LINE_NUM", "DAYS_SUPLY_NUM", "FILL_NUM"}
)
DOUBLE_COLUMNS = frozenset({"QTY_DSPNSD_NUM", "LINE_SRVC_CNT", "REV_CNTR_UNIT_CNT", "CLM_UTLZTN_DAY_CNT"})
_DATE = re.compile(r"(_DT\d*|^COVSTART)$")
_AMOUNT = re.compile(r"_(AMT|AM)$")
_MONTHS_COUNT = re.compile(r"_MONS$")


class LayoutError(ValueError):
    """A file whose header is not a layout of the release; the message names the file and what to do."""


@dataclass(frozen=True)
class SourceFile:
    """One delimited file of the release: its type and, for beneficiary files, the year in its name."""

    path: Path
    file_type: str
    year: int | None


_BENEFICIARY_NAME = re.compile(r"beneficiary_(\d{4})\.csv$", re.IGNORECASE)


def classify(path: Path) -> SourceFile | None:
    """The file type of an extracted file by its name (``beneficiary_2019.csv``, ``carrier.csv``, ``pde.csv``);
    None for anything else (read-me files, the RIF's ``beneficiary_history.csv``)."""
    name = path.name.lower()
    if match := _BENEFICIARY_NAME.search(name):
        return SourceFile(path, BENEFICIARY, int(match.group(1)))
    stem = name.removesuffix(".csv")
    if name.endswith(".csv") and (stem in CLAIM_TYPES or stem == PDE):
        return SourceFile(path, stem, None)
    return None


def read_header(path: Path) -> list[str]:
    """Column names on the first line (a UTF-8 BOM dropped, names trimmed)."""
    with path.open("rb") as fh:
        first = fh.readline(MAX_HEADER_BYTES)
    if not first.endswith(b"\n") and len(first) >= MAX_HEADER_BYTES:
        raise LayoutError(f"{path}: first line longer than {MAX_HEADER_BYTES:,} bytes; not a header of the release")
    text = first.decode("utf-8", errors="replace").lstrip(BOM).rstrip("\r\n")
    if DELIMITER not in text:
        raise LayoutError(
            f"{path}: the header has no '{DELIMITER}'; the release is pipe-delimited (check the file is the CSV, not a "
            "web page or another export)"
        )
    return [name.strip().upper() for name in text.split(DELIMITER)]


def normalize(header: list[str]) -> list[str | None]:
    """Each name in the public release's spelling (None for columns that are not data, e.g. ``DML_IND``)."""
    return [SYNONYMS.get(name, name) for name in header]


def check_layout(path: Path, file_type: str, names: list[str | None]) -> None:
    """Refuse a header lacking the type's required columns or repeating a name after normalization."""
    present = [n for n in names if n is not None]
    missing = [c for c in REQUIRED[file_type] if c not in present]
    if missing:
        raise LayoutError(
            f"{path}: {file_type} file lacks column(s) {', '.join(missing)} (after header synonyms); "
            "is it the right file for its name?"
        )
    repeated = sorted({n for n in present if present.count(n) > 1})
    if repeated:
        raise LayoutError(f"{path}: column(s) {', '.join(repeated)} appear twice after header synonyms")


def column_type(name: str) -> str:
    """The DuckDB type a column is cast to, chosen by its (normalized) name."""
    if name in ID_COLUMNS:
        return "BIGINT"
    if name in INTEGER_COLUMNS or _MONTHS_COUNT.search(name):
        return "INTEGER"
    if name in DOUBLE_COLUMNS:
        return "DOUBLE"
    if _AMOUNT.search(name):
        return "DECIMAL(14,2)"
    if _DATE.search(name):
        return "DATE"
    return "VARCHAR"


def _typed(name: str) -> str:
    column = f'"{name}"'
    type_ = column_type(name)
    if type_ == "VARCHAR":
        return f"{column} AS {column}"
    value = f"nullif(trim({column}), '')"
    if type_ == "DATE":
        return f"strptime({value}, '{DATE_FORMAT}')::DATE AS {column}"
    return f"CAST({value} AS {type_}) AS {column}"


def year_expression(file_type: str, year: int | None) -> str:
    """Which year a row belongs to: the beneficiary file's year, a claim's through date, an event's service date."""
    if file_type == BENEFICIARY:
        return f"{int(year or 0)}"
    if file_type == PDE:
        return 'year("SRVC_DT")'
    return 'year(coalesce("CLM_THRU_DT", "CLM_FROM_DT"))'


def select_sql(source: SourceFile, header: list[str]) -> str:
    """SELECT of one file's rows, every column read as text then typed, plus ``year``; the columns are in the
    file's order under their public-release names (columns that are not data left out)."""
    names = normalize(header)
    check_layout(source.path, source.file_type, names)
    raw_names = [f"c{i}" for i in range(len(names))]  # positional: the file's own names may be synonyms
    columns = ", ".join(f"{sql_string(r)}: 'VARCHAR'" for r in raw_names)
    read = (
        f"read_csv({sql_string(str(source.path))}, delim='{DELIMITER}', header=true, quote='', escape='', "
        f"columns={{{columns}}}, nullstr=[{', '.join(sql_string(t) for t in NULL_TOKENS)}], strict_mode=true, "
        "parallel=true)"
    )
    renamed = ", ".join(f'"{raw}" AS "{name}"' for raw, name in zip(raw_names, names, strict=True) if name is not None)
    typed = ", ".join(_typed(name) for name in names if name is not None)
    return (
        f"SELECT *, {year_expression(source.file_type, source.year)}::INTEGER AS year "
        f"FROM (SELECT {typed} FROM (SELECT {renamed} FROM {read}))"
    )

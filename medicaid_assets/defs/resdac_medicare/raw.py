"""Raw ingestion of a ResDAC delivery into DuckDB: one table per file, each row with its source file and record number.

Fixed-width parts are sliced by polars over whole lines (one vectorised ``str.slice`` per field, streamed to parquet
in bounded memory), SAS files (SAS7BDAT, or XPORT) read in chunks by pyreadstat; DuckDB then replaces the table in
one transaction. Uniform ``bene_id``/``state``/``zip``/``year`` columns are added through the synonym lists of the
contract, so the federated views can join tables whose columns changed names from year to year.

Tables are written in place (decision 0001: bulk SQL tables); ``raw_loads`` records what each was loaded from, so a
file already loaded is skipped and a changed one replaced.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyreadstat

from medicaid_assets.core.fts import Layout, LayoutError, check_data_file, read_fts
from medicaid_assets.core.values import sql_string

# The contract's synonym lists (dorieh's), plus ``zip_cd``: the 2016 MBSF layout names its ZIP field ZIP_CD.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "bene_id": ("bene_id", "intbid", "qid", "bid_5333*"),
    "state": (
        "state",
        "ssa_state",
        "state_code",
        "bene_rsdnc_ssa_state_cd",
        "state_cd",
        "medpar_bene_rsdnc_ssa_state_cd",
    ),
    "zip": (
        "zip",
        "zipcode",
        "bene_zip_cd",
        "bene_zip",
        "bene_mlg_cntct_zip_cd",
        "medpar_bene_mlg_cntct_zip_cd",
        "zip_cd",
    ),
    "year": ("year", "enrolyr", "bene_enrollmt_ref_yr", "rfrnc_yr"),
}
# File name → family: summaries (MBSF, pre-2011 denominators) and admissions (MedPAR, pre-2011 inpatient).
FAMILIES = {"summary": ("mbsf", "denominator", "mcr_bene"), "admissions": ("medpar", "inpatient", "mcr_ip")}
SAS_SUFFIXES = (".sas7bdat", ".xpt")
SAS_CHUNK_ROWS = 200_000
LOADS_TABLE = "raw_loads"


@dataclass(frozen=True)
class Delivery:
    """One file of the delivery as a table: an FTS with its ``.dat`` part(s), or one SAS file."""

    family: str
    year: int
    table: str
    kind: str  # "fixed" | "sas"
    files: tuple[Path, ...]  # the FTS first, then its parts; or the SAS file

    def fingerprint(self) -> str:
        """Names, sizes and modification times: a changed or re-delivered file changes it, an untouched one not."""
        stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in self.files]
        return hashlib.sha256(repr(stats).encode()).hexdigest()


def _family(name: str) -> str | None:
    lower = name.lower()
    return next((f for f, prefixes in FAMILIES.items() if lower.startswith(prefixes)), None)


def _year(name: str) -> int | None:
    years = [int(y) for y in re.findall(r"(?<!\d)((?:19|20)\d\d)(?!\d)", name)]
    return years[-1] if years else None


def table_name(stem: str) -> str:
    return "raw_" + re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")


def find_deliveries(input_dir: Path) -> list[Delivery]:
    """Every FTS (with the parts it names, which must sit beside it) and every SAS file under ``input_dir``."""
    found = []
    for path in sorted(input_dir.rglob("*")):
        if not path.is_file():
            continue
        family, year = _family(path.name), _year(path.name)
        if family is None or year is None:
            continue
        if path.suffix.lower() == ".fts":
            layout = read_fts(path)
            if not layout.parts and not layout.fields:
                raise LayoutError(f"{path}: not a File Transfer Summary (no file names, no column table)")
            escaping = [p.name for p in layout.parts if Path(p.name).name != p.name or p.name.startswith(".")]
            if escaping:  # a part name is a file beside the FTS, never a path out of the delivery
                raise LayoutError(f"{path}: data file name(s) {escaping} are not plain file names; refused")
            parts = tuple(path.parent / p.name for p in layout.parts)
            missing = [p.name for p in parts if not p.is_file()]
            if not parts or missing:
                raise LayoutError(f"{path}: data file(s) {missing or 'none named'} not found beside the FTS")
            found.append(Delivery(family, year, table_name(path.stem), "fixed", (path, *parts)))
        elif path.suffix.lower() in SAS_SUFFIXES:
            found.append(Delivery(family, year, table_name(path.stem), "sas", (path,)))
    return found


def stored_name(column: str) -> str:
    """A delivered column named like a uniform one is kept as ``<name>_raw`` beside the uniform column."""
    return f"{column}_raw" if column in SYNONYMS else column


def uniform_columns(columns: dict[str, str | None], year: int) -> str:
    """SQL for the uniform columns; ``columns`` maps each delivered column (lower case) to its short name or None.

    Long names are tried before short ones; ``year`` stands in when no column names the year (MedPAR's own year
    field, ``MEDPAR_YR_NUM``, is not in the list: its admissions take their year from the admission date later).
    """
    lookup = {
        **{short.lower(): stored_name(col) for col, short in columns.items() if short},
        **{c: stored_name(c) for c in columns},
    }
    exprs = {}
    for uniform, names in SYNONYMS.items():
        match = next((lookup[k] for pattern in names for k in lookup if fnmatch.fnmatch(k, pattern)), None)
        if uniform == "year":
            exprs[uniform] = f'TRY_CAST("{match}" AS INTEGER)' if match else str(year)
        else:
            exprs[uniform] = f"NULLIF(trim(CAST(\"{match}\" AS VARCHAR)), '')" if match else "NULL::VARCHAR"
    return ", ".join(f"{sql} AS {name}" for name, sql in exprs.items())


def _fixed_width_frame(layout: Layout, part: Path) -> pl.LazyFrame:
    """Whole lines sliced into the layout's fields: CHAR and DATE kept as trimmed text, NUM as numbers."""
    lines = pl.scan_csv(
        part,
        has_header=False,
        separator="\x1f",
        quote_char=None,
        schema={"line": pl.String},
        encoding="utf8-lossy",
    ).with_row_index("record_number", offset=1)
    columns = []
    for f in layout.fields:
        text = pl.col("line").str.slice(f.start - 1, f.length).str.strip_chars()
        if f.type == "NUM":
            value = text.cast(pl.Float64 if f.scale else pl.Int64, strict=False)
        else:
            value = pl.when(text == "").then(None).otherwise(text)
        columns.append(value.alias(f.name.lower()))
    return lines.select(pl.lit(part.name).alias("source_file"), pl.col("record_number").cast(pl.Int64), *columns)


def _stage_fixed_width(delivery: Delivery, staging: Path) -> tuple[list[Path], dict[str, str | None]]:
    layout = read_fts(delivery.files[0])
    counts = {p.name: p.rows for p in layout.parts}
    outputs = []
    for part in delivery.files[1:]:
        check_data_file(layout, part, counts.get(part.name) if len(layout.parts) > 1 else layout.rows)
        out = staging / f"{part.stem}.parquet"
        _fixed_width_frame(layout, part).sink_parquet(out, compression="zstd", row_group_size=200_000)
        outputs.append(out)
    return outputs, {f.name.lower(): f.short_name for f in layout.fields}


def _read_sas(path: Path, **kwargs: Any):
    reader = pyreadstat.read_xport if path.suffix.lower() == ".xpt" else pyreadstat.read_sas7bdat
    return pyreadstat.read_file_in_chunks(reader, str(path), chunksize=SAS_CHUNK_ROWS, output_format="polars", **kwargs)


def _stage_sas(delivery: Delivery, staging: Path) -> tuple[list[Path], dict[str, str | None]]:
    """Chunks of the SAS file as parquet, one at a time (bounded memory); names lower-cased (SAS ignores case)."""
    path = delivery.files[0]
    outputs, offset = [], 1
    try:
        for k, (frame, _meta) in enumerate(_read_sas(path)):
            frame = frame.rename({c: c.lower() for c in frame.columns})
            frame = frame.select(
                pl.lit(path.name).alias("source_file"),
                pl.int_range(offset, offset + frame.height, dtype=pl.Int64).alias("record_number"),
                pl.all(),
            )
            offset += frame.height
            out = staging / f"{path.stem}_{k:05d}.parquet"
            frame.write_parquet(out, compression="zstd")
            outputs.append(out)
    except pyreadstat.ReadstatError as error:
        raise LayoutError(f"{path}: not a readable SAS file ({error}); replace it with the delivered file") from None
    if not outputs:
        raise LayoutError(f"{path}: no rows")
    return outputs, {c: None for c in pl.read_parquet_schema(outputs[0]) if c not in ("source_file", "record_number")}


def ensure_loads_table(conn: Any, schema: str) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {schema}.{LOADS_TABLE} (table_name VARCHAR PRIMARY KEY, family VARCHAR, "
        "year INTEGER, kind VARCHAR, files VARCHAR[], fingerprint VARCHAR, rows BIGINT, loaded_at TIMESTAMP)"
    )


def is_loaded(conn: Any, schema: str, delivery: Delivery) -> bool:
    row = conn.execute(
        f"SELECT fingerprint FROM {schema}.{LOADS_TABLE} WHERE table_name = ?", [delivery.table]
    ).fetchone()
    exists = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, delivery.table]
    ).fetchone()[0]
    return bool(row and exists and row[0] == delivery.fingerprint())


def load_delivery(conn: Any, schema: str, delivery: Delivery, staging: Path) -> int:
    """Replace the delivery's table and its ``raw_loads`` row in one transaction; return its rows.

    The staged parquet is written first (a crash there leaves the old table), then swapped in.
    """
    work = staging / delivery.table
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        stage = _stage_fixed_width if delivery.kind == "fixed" else _stage_sas
        parquet, columns = stage(delivery, work)
        files = "[" + ", ".join(sql_string(str(p)) for p in parquet) + "]"
        renamed = ", ".join(f'"{c}" AS "{stored_name(c)}"' for c in columns)
        uniform = uniform_columns(columns, delivery.year)
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(
                f"CREATE OR REPLACE TABLE {schema}.{delivery.table} AS SELECT source_file, record_number, {uniform}, "
                f"* EXCLUDE (source_file, record_number) FROM (SELECT source_file, record_number, {renamed} "
                f"FROM read_parquet({files}))"
            )
            rows = conn.execute(f"SELECT count(*) FROM {schema}.{delivery.table}").fetchone()[0]
            conn.execute(
                f"INSERT OR REPLACE INTO {schema}.{LOADS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, now())",
                [
                    delivery.table,
                    delivery.family,
                    delivery.year,
                    delivery.kind,
                    [p.name for p in delivery.files],
                    delivery.fingerprint(),
                    rows,
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)

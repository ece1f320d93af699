"""Writers of the published files (contract section 8): mapping CSVs, the npi/hcpcs parquet datasets,
the unresolved report; plus read-back helpers for Dagster metadata.

Column order is part of the contract, so every writer takes the column tuple explicitly and every
file is written to a temp file beside it and renamed (``lib.atomic``): a failure half-way leaves the
previous file in place. Rows are consumed as a stream, so a 1.8M-row dataset never sits in memory.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medicaid_assets.core.atomic import atomic_path, atomic_write
from medicaid_assets.core.npi import is_valid_npi

NPI_MAPPING_COLUMNS = ("npi", "provider_name", "status", "fetched_at_unix")
HCPCS_MAPPING_COLUMNS = (
    "hcpcs_code",
    "short_desc",
    "long_desc",
    "add_dt",
    "act_eff_dt",
    "term_dt",
    "obsolete",
    "is_noc",
    "status",
    "fetched_at_unix",
)
NPI_DATASET_COLUMNS = (
    "npi",
    "basic",
    "addresses",
    "practice_locations",
    "taxonomies",
    "identifiers",
    "other_names",
    "endpoints",
    "url",
    "error_message",
    "api_run_id",
    "requested_at_utc",
    "request_params",
    "results",
    "response_json",
)
HCPCS_DATASET_COLUMNS = (
    "hcpcs_code",
    "ef_short_desc",
    "ef_long_desc",
    "ef_add_dt",
    "ef_act_eff_dt",
    "ef_term_dt",
    "ef_obsolete",
    "ef_is_noc",
    "response_codes",
    "response_display",
    "response_extra_fields",
    "url",
    "error_message",
    "api_run_id",
    "requested_at_utc",
    "request_params",
    "response_json",
)
UNRESOLVED_COLUMNS = ("identifier_type", "identifier", "status", "error_message", "fetched_at_unix")
# What each output column holds (the contract's columns), for the column schema the UI shows.
COLUMN_DESCRIPTIONS: dict[str, str] = {
    "npi": "the 10-digit National Provider Identifier, as written in the spending file",
    "hcpcs_code": "the procedure code, as written in the spending file",
    "provider_name": "organisation name, or the individual's first and last name (NPPES)",
    "status": "ok, not_found, error, invalid (bad check digit: never requested) or missing_cache (not asked yet)",
    "fetched_at_unix": "when the answer was obtained (Unix seconds)",
    "short_desc": "short descriptor of the code",
    "long_desc": "long descriptor of the code",
    "add_dt": "date the code was added (HCPCS Level II)",
    "act_eff_dt": "date the code's current action took effect",
    "term_dt": "date the code was terminated, if it was",
    "obsolete": "whether the code is obsolete",
    "is_noc": "whether the code is a 'not otherwise classified' code",
    "basic": "NPPES basic record (names, credential, dates, status) as the API's JSON",
    "addresses": "mailing and location addresses, API-shaped JSON",
    "practice_locations": "other practice locations, API-shaped JSON",
    "taxonomies": "provider taxonomies (specialties, licences), API-shaped JSON",
    "identifiers": "other identifiers (e.g. state Medicaid IDs), API-shaped JSON",
    "other_names": "other organisation or individual names, API-shaped JSON",
    "endpoints": "electronic endpoints (Direct, FHIR), API-shaped JSON",
    "url": "where the row came from: the request URL, or nppes_bulk:<monthly|weekly>:<file>, or the fallback file",
    "error_message": "why the identifier is not resolved (empty when it is)",
    "api_run_id": "the run of the lookup that answered",
    "requested_at_utc": "when the request was made (UTC)",
    "request_params": "the request's query parameters, JSON",
    "results": "the API's results array, JSON",
    "response_json": "the whole API answer, JSON",
    "ef_short_desc": "short descriptors of every record of the code, JSON list",
    "ef_long_desc": "long descriptors of every record of the code, JSON list",
    "ef_add_dt": "add dates of every record, JSON list",
    "ef_act_eff_dt": "action effective dates of every record, JSON list",
    "ef_term_dt": "termination dates of every record, JSON list",
    "ef_obsolete": "obsolete flags of every record, JSON list",
    "ef_is_noc": "NOC flags of every record, JSON list",
    "response_codes": "the codes the API answered, JSON list",
    "response_display": "[code, display] pairs the API answered, JSON",
    "response_extra_fields": "the API's extra fields, JSON",
    "identifier_type": "npi or hcpcs",
    "identifier": "the unresolved NPI or code",
    "inferred_code_type": "what the identifier looks like (bad check digit, placeholder, CPT, revenue code, ...)",
    "base_code": "the code without its suffix or modifier, when it has one",
    "suffix_or_modifier": "the suffix or modifier found after the base code",
    "identifier_norm": "the identifier trimmed and upper-cased, as the triage compared it",
}
TRIAGE_COLUMNS = (
    *UNRESOLVED_COLUMNS,
    "inferred_code_type",
    "base_code",
    "suffix_or_modifier",
    "identifier_norm",
)

UNRESOLVED_STATUSES = frozenset({"not_found", "error", "invalid", "missing_cache"})
PARQUET_BATCH_ROWS = 10_000

Row = Sequence[object] | Mapping[str, object]
# One cache lookup per dataset identifier: (identifier, status or None when the cache has no row,
# error_message, fetched_at_unix). HCPCS codes may come several times (one per cached record).
CacheLookup = tuple[str, str | None, str | None, int | str | None]


def cell(value: object) -> str | None:
    """The text stored for one value: None stays null, nested values become compact JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def row_values(row: Row, columns: Sequence[str]) -> tuple[str | None, ...]:
    """``row`` as cells in ``columns`` order; a mapping may omit keys, a sequence must match in length."""
    if not isinstance(row, tuple) and isinstance(row, Mapping):  # a tuple first: the ABC check is slow
        return tuple(cell(row.get(name)) for name in columns)
    if len(row) != len(columns):
        raise ValueError(f"row has {len(row)} values for {len(columns)} columns: {row!r}")
    return tuple(map(cell, row))


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Row]) -> int:
    """Write a UTF-8 CSV (header, minimal quoting, LF endings, nulls as empty); returns the row count."""
    count = 0
    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row_values(row, columns))
            count += 1
    return count


def string_schema(columns: Sequence[str]) -> pa.Schema:
    """Every dataset column is nullable Utf8, like the original's parquet writer."""
    return pa.schema([pa.field(name, pa.string(), nullable=True) for name in columns])


def rows_batch(rows: Sequence[Row], columns: Sequence[str]) -> pa.RecordBatch:
    """``rows`` as one Arrow batch of :func:`string_schema` (cells as :func:`row_values` gives them)."""
    values = [row_values(row, columns) for row in rows]
    arrays = [pa.array([row[i] for row in values], type=pa.string()) for i in range(len(columns))]
    return pa.RecordBatch.from_arrays(arrays, schema=string_schema(columns))


def write_parquet(path: Path, columns: Sequence[str], rows: Iterable[Row], batch_rows: int = PARQUET_BATCH_ROWS) -> int:
    """Write a Snappy parquet of string columns, one row group per ``batch_rows`` rows; returns the row count.

    Rows are pulled ``batch_rows`` at a time, so memory stays bounded by one batch.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive, got {batch_rows}")

    def batches(iterator: Iterator[Row]) -> Iterator[pa.RecordBatch]:
        while batch := list(itertools.islice(iterator, batch_rows)):
            yield rows_batch(batch, columns)

    return write_parquet_batches(path, columns, batches(iter(rows)))


def write_parquet_batches(path: Path, columns: Sequence[str], batches: Iterable[pa.RecordBatch | pa.Table]) -> int:
    """Write Arrow batches (or tables) of string ``columns``, in that order, as :func:`write_parquet` writes rows,
    one row group each; returns the row count. For rows built in bulk (DuckDB) rather than one at a time."""
    schema = string_schema(columns)
    count = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
        for batch in batches:
            writer.write(batch.cast(schema))
            count += batch.num_rows
    return count


def _unresolved_block(identifier_type: str, lookups: Iterable[CacheLookup]) -> list[tuple]:
    """Unresolved rows of one identifier type, sorted by identifier.

    A code with any ``ok`` record is resolved; an identifier without a cache row is ``missing_cache``,
    except an NPI that fails the check digit, which is ``invalid`` (it is never looked up).
    """
    settled: set[str] = set()
    pending: dict[str, tuple] = {}
    for identifier, status, error_message, fetched_at_unix in lookups:
        if status == "ok":
            settled.add(identifier)
            continue
        if status is None:
            invalid = identifier_type == "npi" and not is_valid_npi(identifier)
            status, error_message = ("invalid", "not a valid NPI") if invalid else ("missing_cache", "missing_cache")
        elif status not in UNRESOLVED_STATUSES:
            raise ValueError(f"unexpected {identifier_type} status {status!r} for {identifier!r}")
        pending.setdefault(identifier, (identifier_type, identifier, status, error_message, fetched_at_unix))
    return [pending[identifier] for identifier in sorted(pending.keys() - settled)]


def unresolved_rows(npi_lookups: Iterable[CacheLookup], hcpcs_lookups: Iterable[CacheLookup]) -> list[tuple]:
    """Rows of ``unresolved_identifiers.csv`` (UNRESOLVED_COLUMNS): the NPI block, then the HCPCS block.

    Each lookup is a dataset identifier left-joined to its cache rows. ``ok`` rows may be filtered out
    upstream to save memory (the cache never mixes ``ok`` and other records of one identifier).
    """
    return _unresolved_block("npi", npi_lookups) + _unresolved_block("hcpcs", hcpcs_lookups)


PREVIEW_SCAN_ROWS = 10_000  # how far a preview looks for rows it prefers before it takes what it saw


def preview(
    path: Path, n: int = 10, prefer: Callable[[dict[str, object]], bool] | None = None
) -> tuple[list[str], list[tuple]]:
    """Column names and the first ``n`` rows of a written CSV or parquet, for the asset's preview.

    ``prefer(row)``: the first ``n`` rows it accepts among the first :data:`PREVIEW_SCAN_ROWS` (topped up with the
    others), so a file sorted by identifier does not open on its malformed ones."""
    if path.suffix == ".parquet":
        parquet = pq.ParquetFile(path)
        columns = parquet.schema_arrow.names
        rows: list[tuple] = []
        others: list[tuple] = []
        scanned = 0
        for batch in parquet.iter_batches(batch_size=max(n, 1) if prefer is None else 1000):
            for row in batch.to_pylist():
                (rows if prefer is None or prefer(row) else others).append(tuple(row.values()))
            scanned += batch.num_rows
            if len(rows) >= n or scanned >= PREVIEW_SCAN_ROWS:
                break
        return columns, (rows + others)[:n]
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        columns = next(reader, [])
        return columns, [tuple(row) for row in itertools.islice(reader, n)]


def count_rows(path: Path) -> int:
    """Data rows in a written CSV (quoted newlines count once) or parquet (from its footer)."""
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with path.open(encoding="utf-8", newline="") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)

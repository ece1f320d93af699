"""The published results: mappings, resolved ``npi``/``hcpcs`` datasets, the unresolved report and its triage.

Each file is written to a temp name and renamed (lib/outputs), with the contract's exact columns and order.
"""

import bisect
import itertools
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from medicaid_assets.core.stamps import Stamp, files_identity
from medicaid_assets.dagster_kit.charts import category_counts_png, image_metadata
from medicaid_assets.dagster_kit.io_managers import COLUMNS, SqlFrame, duckdb_connection
from medicaid_assets.dagster_kit.metadata import OWNERS, column_schema, table_metadata
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.defs.reference.resolution.bulk_payload import bulk_dataset
from medicaid_assets.defs.reference.resolution.hcpcs_cache import HcpcsCache
from medicaid_assets.defs.reference.resolution.keys import (
    DATASET_CODES,
    DATASET_NPIS,
    HCPCS_CACHE,
    NPI_BULK_ROWS,
    NPI_CACHE,
    OUTPUTS_GROUP,
    UNRESOLVED,
)
from medicaid_assets.defs.reference.resolution.lookups import (
    values_digest,
    write_hcpcs_mapping,
    write_npi_mapping,
)
from medicaid_assets.defs.reference.resolution.npi_cache import INVALID_MESSAGE, NpiCache, to_json
from medicaid_assets.defs.reference.resolution.triage import triage, write_triage
from medicaid_assets.defs.reference.resolution.writers import (
    COLUMN_DESCRIPTIONS,
    HCPCS_DATASET_COLUMNS,
    HCPCS_MAPPING_COLUMNS,
    NPI_DATASET_COLUMNS,
    NPI_MAPPING_COLUMNS,
    PARQUET_BATCH_ROWS,
    TRIAGE_COLUMNS,
    UNRESOLVED_COLUMNS,
    preview,
    rows_batch,
    string_schema,
    unresolved_rows,
    write_csv,
    write_parquet,
    write_parquet_batches,
)
from medicaid_assets.layout import DataLayout

EMPTY_RESPONSE = {"result_count": 0, "results": []}


def _resolved(row: dict[str, object]) -> bool:
    """A row that previews well: an answered identifier (no error message)."""
    return not row.get("error_message")


def _file_metadata(
    path: Path, rows: int, columns: tuple[str, ...], prefer: Callable[[dict[str, object]], bool] | None = None
) -> dict[str, object]:
    names, sample = preview(path, prefer=prefer)
    return {
        **table_metadata(rows, dict.fromkeys(columns, "VARCHAR"), names, sample, COLUMN_DESCRIPTIONS),
        "path": dg.MetadataValue.path(str(path)),
        "bytes": path.stat().st_size,
    }


# The hand-off values the outputs take (loaded by the IO manager): only the identifier columns.
NPIS_IN = dg.AssetIn(DATASET_NPIS, metadata={COLUMNS: ["npi"]})
CODES_IN = dg.AssetIn(DATASET_CODES, metadata={COLUMNS: ["hcpcs_code"]})


def _stamp(layout: DataLayout, name: str, output: Path, values: list, files: list[Path]) -> tuple[Stamp, dict] | None:
    """The stamp of ``output`` and what it is built from: the hand-off ``values`` (a digest) and the ``files``
    (caches, fallback: size and mtime); None when a file is missing (then nothing can be current)."""
    identities = files_identity(files)
    if any(state is None for state in identities.values()):
        return None
    return Stamp.of_output(layout.root, name, output), {"values": values_digest(*values), "files": identities}


def _unless_current(
    layout: DataLayout, name: str, output: Path, values: list, files: list[Path], write: Callable[[], int]
) -> int:
    """Rows of ``output``, written by ``write`` unless it is current: written before from the same hand-off values
    and files unchanged since (a re-run with nothing new rewrites nothing; the NPI dataset takes minutes at real
    scale)."""
    stamped = _stamp(layout, name, output, values, files)
    recorded = stamped[0].current(stamped[1]) if stamped else None
    if recorded is not None and "rows" in recorded:
        return recorded["rows"]
    rows = write()
    if (stamped := _stamp(layout, name, output, values, files)) is not None:
        stamped[0].record(stamped[1], rows=rows)
    return rows


def _asset(key: str, deps: list, description: str, kinds: set[str], identifier: str, ins: dict | None = None) -> dict:
    return dict(
        key=["outputs", key],
        deps=deps,
        ins=ins or {},
        group_name=OUTPUTS_GROUP,
        kinds=kinds,
        owners=OWNERS,
        tags={"identifier": identifier},
        description=description,
    )


@dg.asset(
    **_asset(
        "npi_provider_mapping",
        [NPI_CACHE],
        "npi,provider_name,status,fetched_at_unix by npi "
        "(ok and not_found rows): data/mappings/npi/npi_provider_mapping.csv.",
        {"csv"},
        "npi",
    )
)
def npi_provider_mapping(data: DataDirResource) -> dg.MaterializeResult:
    layout = data.layout
    write = lambda: write_npi_mapping(layout)  # noqa: E731
    rows = _unless_current(layout, "npi_mapping", layout.npi_mapping, [], [layout.npi_cache], write)
    return dg.MaterializeResult(metadata=_file_metadata(layout.npi_mapping, rows, NPI_MAPPING_COLUMNS))


@dg.asset(
    **_asset(
        "hcpcs_code_mapping",
        [HCPCS_CACHE],
        "Every ok record per code, non-NOC first: data/mappings/hcpcs/hcpcs_code_mapping.csv.",
        {"csv"},
        "hcpcs",
    )
)
def hcpcs_code_mapping(data: DataDirResource) -> dg.MaterializeResult:
    layout = data.layout
    write = lambda: write_hcpcs_mapping(layout)  # noqa: E731
    rows = _unless_current(layout, "hcpcs_mapping", layout.hcpcs_mapping, [], [layout.hcpcs_cache], write)
    return dg.MaterializeResult(metadata=_file_metadata(layout.hcpcs_mapping, rows, HCPCS_MAPPING_COLUMNS))


def _unanswered_row(npi: str, status: str | None, error: str | None) -> tuple:
    source = "missing_cache" if status is None else status
    message = "missing_cache" if status is None else (error or (INVALID_MESSAGE if status == "invalid" else status))
    return (
        npi,
        None,
        "[]",
        "[]",
        "[]",
        "[]",
        "[]",
        "[]",
        source,
        message,
        None,
        None,
        to_json({"source": source}),
        "[]",
        to_json(EMPTY_RESPONSE),
    )


def _cached_rows(cache: NpiCache, npis: list[str]) -> Iterator[tuple]:
    """Rows of NPIs the bulk files lack, by NPI: the cached answer, else what the cache says of the NPI."""
    statuses = cache.statuses(npis)
    errors = {npi: err for npi, _, err, _ in cache.unresolved_rows(npis)}
    answered = cache.parquet_rows(npis)
    next_answer = next(answered, None)
    for npi in npis:
        while next_answer is not None and next_answer[0] < npi:
            next_answer = next(answered, None)
        if next_answer is not None and next_answer[0] == npi:
            yield next_answer
        else:
            yield _unanswered_row(npi, statuses.get(npi), errors.get(npi))


def _read_ahead(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The reader's batches, each read in a thread while the caller writes the one before (DuckDB and pyarrow
    let go of the GIL: the query and the parquet writer share the cores)."""

    def read() -> pa.RecordBatch | None:
        try:
            return reader.read_next_batch()
        except StopIteration:
            return None

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(read)
        while (batch := future.result()) is not None:
            future = pool.submit(read)
            yield batch


def _merged(batch: pa.RecordBatch, rows: list[tuple]) -> pa.Table:
    """``batch`` (sorted by NPI) with ``rows`` (sorted, none of its NPIs) put in place, without copying it."""
    npis, extra = batch["npi"].to_pylist(), rows_batch(rows, NPI_DATASET_COLUMNS)
    pieces, start = [], 0
    for i, row in enumerate(rows):
        at = bisect.bisect_left(npis, row[0], start)
        pieces += [batch.slice(start, at - start), extra.slice(i, 1)]
        start = at
    pieces.append(batch.slice(start))
    return pa.Table.from_batches([p for p in pieces if p.num_rows], extra.schema)


def npi_dataset_batches(
    layout: DataLayout, dataset_npis: list[str], bulk_rows: SqlFrame
) -> Iterator[pa.RecordBatch | pa.Table]:
    """One row per dataset NPI, by NPI: its bulk record when the NPPES files have it and the cache has settled it,
    else its cached answer (``missing_cache`` when the cache lacks it).

    Only NPIs the cache knows take their bulk record, so this file says what the mapping and the unresolved report
    say: after a stopped ``--skip-nppes-bulk`` run, NPIs not yet asked are ``missing_cache`` here too.

    ``bulk_rows`` is the stored ``resolution/npi_bulk_rows`` as a query (nothing read until it streams): over the
    parquet files (any DuckDB connection) or the warehouse table (``bulk_rows.database``, held while it streams).
    Bulk rows come from one DuckDB query in NPI order; the NPIs without one (a few percent) are put in place."""
    npis = sorted(dataset_npis)
    database = bulk_rows.database or ":memory:"
    schema = string_schema(NPI_DATASET_COLUMNS)
    with duckdb_connection(database) as conn, NpiCache(layout.npi_cache) as cache:
        in_files = {row[0] for row in conn.execute(f"SELECT npi FROM ({bulk_rows.sql})").fetchall()}
        bulk = in_files & set(cache.statuses(in_files.intersection(npis)))
        # NPIs no longer in the dataset (none while current), and those the cache has not settled yet.
        stale = pa.array(in_files - bulk, pa.string())
        cached = _cached_rows(cache, [npi for npi in npis if npi not in bulk])
        pending = next(cached, None)
        conn.execute("SET threads = 1")  # more threads stream no faster, at twice the CPU
        for batch in _read_ahead(bulk_dataset(conn, bulk_rows.sql, PARQUET_BATCH_ROWS)):
            batch = batch.cast(schema)
            if len(stale):
                batch = batch.filter(pc.invert(pc.is_in(batch["npi"], stale)))
            if not batch.num_rows:
                continue
            last, rows = batch["npi"][-1].as_py(), []
            while pending is not None and pending[0] <= last:
                rows.append(pending)
                pending = next(cached, None)
            yield _merged(batch, rows) if rows else batch
        rest = cached if pending is None else itertools.chain([pending], cached)
        while rows := list(itertools.islice(rest, PARQUET_BATCH_ROWS)):
            yield rows_batch(rows, NPI_DATASET_COLUMNS)


@dg.asset(
    **_asset(
        "npi_dataset",
        [NPI_CACHE],
        "data/output/npi.parquet: one row per dataset NPI, API-shaped JSON strings (bulk rows carry "
        "url `nppes_bulk:<monthly|weekly>:<file>`, API rows the real request URL).",
        {"parquet"},
        "npi",
        ins={"dataset_npis": NPIS_IN, "npi_bulk_rows": dg.AssetIn(NPI_BULK_ROWS)},
    )
)
def npi_dataset(data: DataDirResource, dataset_npis: pa.Table, npi_bulk_rows: SqlFrame) -> dg.MaterializeResult:
    layout, path = data.layout, data.layout.npi_dataset
    npis = dataset_npis.column("npi").to_pylist()
    batches = lambda: npi_dataset_batches(layout, npis, npi_bulk_rows)  # noqa: E731
    write = lambda: write_parquet_batches(path, NPI_DATASET_COLUMNS, batches())  # noqa: E731
    # The bulk rows' stored source digest stands for them (None: not known, so never current).
    values = [npis, npi_bulk_rows.source or object()]
    rows = _unless_current(layout, "npi_dataset", path, values, [layout.npi_cache], write)
    return dg.MaterializeResult(metadata=_file_metadata(path, rows, NPI_DATASET_COLUMNS, prefer=_resolved))


@dg.asset(
    **_asset(
        "hcpcs_dataset",
        [HCPCS_CACHE],
        "data/output/hcpcs.parquet: one row per dataset code with ef_* lists and the API-shaped answer "
        "(fallback rows carry [code, display] pairs).",
        {"parquet"},
        "hcpcs",
        ins={"dataset_codes": CODES_IN},
    )
)
def hcpcs_dataset(data: DataDirResource, dataset_codes: pa.Table) -> dg.MaterializeResult:
    layout, path = data.layout, data.layout.hcpcs_dataset
    codes = dataset_codes.column("hcpcs_code").to_pylist()

    def write() -> int:
        with HcpcsCache(layout.hcpcs_cache) as cache:
            return write_parquet(path, HCPCS_DATASET_COLUMNS, cache.parquet_rows(codes, str(layout.cpt_fallback)))

    files = [layout.hcpcs_cache, layout.cpt_fallback]
    rows = _unless_current(layout, "hcpcs_dataset", path, [codes], files, write)
    return dg.MaterializeResult(metadata=_file_metadata(path, rows, HCPCS_DATASET_COLUMNS, prefer=_resolved))


def unresolved_identifier_rows(layout: DataLayout, npis: list[str], codes: list[str]) -> list[tuple]:
    with NpiCache(layout.npi_cache) as npi_cache, HcpcsCache(layout.hcpcs_cache) as code_cache:
        npi_rows = list(npi_cache.unresolved_rows(npis))
        known_npis = set(npi_cache.statuses(npis))
        code_rows = list(code_cache.unresolved_rows(codes))
        known_codes = set(code_cache.statuses(codes))
    npi_lookups = itertools.chain(npi_rows, ((n, None, None, None) for n in npis if n not in known_npis))
    code_lookups = itertools.chain(code_rows, ((c, None, None, None) for c in codes if c not in known_codes))
    return unresolved_rows(npi_lookups, code_lookups)


class UnresolvedConfig(dg.Config):
    unresolved_report_csv: str | None = None  # default: <data dir>/unresolved_identifiers.csv


@dg.asset(
    **_asset(
        "unresolved_identifiers",
        [NPI_CACHE, HCPCS_CACHE],
        "identifier_type,identifier,status,error_message,fetched_at_unix for every dataset identifier "
        "not resolved (not_found, error, invalid, missing_cache).",
        {"csv"},
        "npi_and_hcpcs",
        ins={"dataset_npis": NPIS_IN, "dataset_codes": CODES_IN},
    )
)
def unresolved_identifiers(
    config: UnresolvedConfig, data: DataDirResource, dataset_npis: pa.Table, dataset_codes: pa.Table
) -> dg.MaterializeResult:
    path = Path(config.unresolved_report_csv) if config.unresolved_report_csv else data.layout.unresolved_report
    npis, codes = dataset_npis.column("npi").to_pylist(), dataset_codes.column("hcpcs_code").to_pylist()
    stamped = _stamp(data.layout, "unresolved_identifiers", path, [npis, codes], _unresolved_files(data.layout))
    recorded = stamped[0].current(stamped[1]) if stamped else None
    if recorded is not None and "per_status" in recorded:  # written from the same identifiers and caches
        count, per_status = recorded["rows"], recorded["per_status"]
    else:
        rows = unresolved_identifier_rows(data.layout, npis, codes)
        count = write_csv(path, UNRESOLVED_COLUMNS, rows)
        per_status = {
            f"{t}_{s}": 0 for t in ("npi", "hcpcs") for s in ("not_found", "error", "invalid", "missing_cache")
        }
        for identifier_type, _, status, _, _ in rows:
            per_status[f"{identifier_type}_{status}"] += 1
        if stamped := _stamp(
            data.layout, "unresolved_identifiers", path, [npis, codes], _unresolved_files(data.layout)
        ):
            stamped[0].record(stamped[1], rows=count, per_status=per_status)
    return dg.MaterializeResult(metadata={**_file_metadata(path, count, UNRESOLVED_COLUMNS), **per_status})


def _unresolved_files(layout: DataLayout) -> list[Path]:
    """The files the unresolved report and its triage are derived from (besides the identifier sets)."""
    return [layout.npi_cache, layout.hcpcs_cache]


@dg.asset(
    **_asset(
        "triage",
        [UNRESOLVED],
        "data/output/triage/: the inferred kind of every unresolved identifier (NPI: non-numeric, wrong "
        "length, bad check digit, placeholder, valid-but-unknown; code: CPT, Level II, CDT, revenue code, "
        "code + modifier, word …) and counts per kind. Picture: unresolved identifiers per kind, metadata entry "
        "`kinds_chart` (click [Show Markdown]).",
        {"csv"},
        "npi_and_hcpcs",
        ins={"dataset_npis": NPIS_IN, "dataset_codes": CODES_IN},
    )
)
def unresolved_triage(data: DataDirResource, dataset_npis: pa.Table, dataset_codes: pa.Table) -> dg.MaterializeResult:
    layout = data.layout
    npis, codes = dataset_npis.column("npi").to_pylist(), dataset_codes.column("hcpcs_code").to_pylist()
    stamped = _stamp(layout, "triage", layout.triage, [npis, codes], _unresolved_files(layout))
    recorded = stamped[0].current(stamped[1]) if stamped else None
    if recorded is not None and "summary" in recorded:  # written from the same identifiers and caches
        files, summary = recorded["files"], recorded["summary"]
    else:
        result = triage(unresolved_identifier_rows(layout, npis, codes))
        files = write_triage(layout.triage, result)
        summary = json.loads(json.dumps(result.summary()))
        if (stamped := _stamp(layout, "triage", layout.triage, [npis, codes], _unresolved_files(layout))) is not None:
            stamped[0].record(stamped[1], files=files, summary=summary)
    return dg.MaterializeResult(
        metadata={
            # The identifier rows (the schema below is theirs), not the count files' rows beside them.
            "dagster/row_count": sum(n for name, n in files.items() if name.endswith("_with_inferred_types.csv")),
            "dagster/column_schema": column_schema(dict.fromkeys(TRIAGE_COLUMNS, "VARCHAR"), COLUMN_DESCRIPTIONS),
            "kinds_chart": image_metadata(
                category_counts_png(
                    {name: block["kinds"] for name, block in summary.items()},
                    "Unresolved identifiers per inferred kind",
                ),
                "unresolved identifiers per inferred kind",
            ),
            "files": dg.MetadataValue.json(files),
            "kinds": dg.MetadataValue.json(json.loads(json.dumps(summary))),
            "path": dg.MetadataValue.path(str(data.layout.triage)),
        }
    )

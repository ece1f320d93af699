"""NPI and HCPCS resolution through resumable caches: bulk files and the fallback first, then the APIs.

Both lookups run at once, in two threads of one step (as the original ran them with ``try_join``), each
with its own pacing; neither touches DuckDB. Every answer is committed to its SQLite cache as it arrives,
so a crash loses at most the requests in flight. A stop (the run turning ``CANCELING``: the UI's Terminate or the
CLI's first Ctrl-C, seen through :class:`RunControlResource` in any executor; or an interrupt) lets requests in
flight finish, keeps what arrived, and the next run asks only what is still unsettled.
"""

import csv
import hashlib
import json
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import dagster as dg
import pyarrow as pa

from medicaid_assets.core.fetcher import CallInfo
from medicaid_assets.core.npi import is_valid_npi
from medicaid_assets.core.stamps import Stamp
from medicaid_assets.dagster_kit.charts import category_counts_png, image_metadata
from medicaid_assets.dagster_kit.io_managers import ALLOW_MISSING, COLUMNS
from medicaid_assets.dagster_kit.metadata import OWNERS, column_schema
from medicaid_assets.dagster_kit.progress import LookupProgress
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.dagster_kit.run_control import REMAINING, STOPPED_EARLY, ProgressResource, RunControlResource
from medicaid_assets.defs.reference.code_sets.keys import FALLBACK
from medicaid_assets.defs.reference.resolution import clinical_tables, hcpcs_cache
from medicaid_assets.defs.reference.resolution.hcpcs_cache import HcpcsCache, HcpcsResponse, HcpcsResult
from medicaid_assets.defs.reference.resolution.keys import (
    DATASET_CODES,
    DATASET_NPIS,
    GROUP,
    HCPCS_CACHE,
    NPI_BULK_ROWS,
    NPI_CACHE,
)
from medicaid_assets.defs.reference.resolution.npi_cache import NpiCache, NpiRecord, NpiResponse, new_api_run_id
from medicaid_assets.defs.reference.resolution.npi_registry import NpiOutcome
from medicaid_assets.defs.reference.resolution.resources import ClinicalTablesResource, NpiRegistryResource
from medicaid_assets.defs.reference.resolution.writers import HCPCS_MAPPING_COLUMNS, NPI_MAPPING_COLUMNS, write_csv
from medicaid_assets.layout import DataLayout

# Clinical Tables serves HCPCS Level II (letters A-V and four digits) only; anything else cannot be there.
LEVEL2_CODE = re.compile(r"[A-V][0-9]{4}")


class ResolutionConfig(dg.Config):
    """Run controls users of the original know (``build-datasets`` flags)."""

    skip_nppes_bulk: bool = False  # do not preload NPIs from the NPPES provider table
    skip_api: bool = False  # no requests; cached rows are still exported
    max_new_lookups: int | None = None  # per API, at most this many identifiers asked this run


BULK_COLUMNS = ["npi", "provider_name", "deactivation_date"]  # what the NPI lookup takes from the bulk rows


def values_digest(*values: object) -> str:
    """A digest of hand-off values as loaded (what a cache or an output was derived from)."""
    return hashlib.sha256(repr(values).encode()).hexdigest()


def column_values(table: pa.Table | None, column: str, what: str) -> list[str]:
    """The values of ``column`` of a hand-off ``table`` loaded by the IO manager (None: never materialized)."""
    if table is None:
        raise FileNotFoundError(f"{what} is not stored yet: materialize it first (e.g. the full spending job)")
    return table.column(column).to_pylist()


def read_fallback(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def resolve_npis(
    layout: DataLayout,
    api: NpiRegistryResource,
    config: ResolutionConfig,
    stop: threading.Event,
    progress: LookupProgress,
    npis: list[str],
    bulk_rows: list[dict],
) -> dict[str, object]:
    """Invalid → ``invalid``; bulk hits → ``ok``; the rest through the Registry API. Returns metadata.

    ``npis``: the dataset NPIs; ``bulk_rows``: their NPPES rows (``BULK_COLUMNS``), both loaded by the IO manager.
    Nothing to do (the same dataset NPIs and bulk rows, the cache unchanged since a run that left every NPI
    settled, no error to retry) costs a digest of those values and a look at the cache's file date: at real scale
    the checks alone take most of a minute.
    """
    stamp = Stamp.of_output(layout.root, "npi_cache", layout.npi_cache)
    built_from = {"inputs": values_digest(npis, bulk_rows)}
    recorded = stamp.current(built_from) if layout.npi_cache.is_file() else None
    if recorded is not None and recorded.get("settled") and recorded.get("config") == config.model_dump():
        return {**recorded["metadata"], "asked_api": 0, "requests": 0, "current": True}
    with NpiCache(layout.npi_cache) as cache:
        statuses = cache.statuses(npis)
        invalid = [n for n in npis if not is_valid_npi(n)]
        cache.bulk_upsert(NpiRecord.invalid(n) for n in invalid if statuses.get(n) != "invalid")
        bulk_hits: dict[str, tuple[str | None, str, str | None]] = {}  # npi -> (name, status, error)
        if not config.skip_nppes_bulk:
            for r in bulk_rows:
                if r["provider_name"]:
                    bulk_hits[r["npi"]] = (r["provider_name"], "ok", None)
                else:  # a deactivated record carries no name; the API would not find it either
                    bulk_hits[r["npi"]] = (None, "not_found", f"deactivated in NPPES on {r['deactivation_date']}")
            current = {npi: (name, status) for npi, name, status, _ in cache.mapping_rows()}
            changed = [n for n, (name, status, _) in bulk_hits.items() if current.get(n) != (name, status)]
            cache.bulk_upsert(NpiRecord(n, bulk_hits[n][1], bulk_hits[n][0], bulk_hits[n][2]) for n in changed)
        todo = [] if config.skip_api else cache.to_fetch(n for n in npis if n not in bulk_hits)
        run_id = new_api_run_id()

        def on_result(outcome: NpiOutcome, call: CallInfo) -> None:
            response = NpiResponse(
                call.url, call.params, run_id, str(int(call.requested_at)), outcome.payload, outcome.response_json
            )
            cache.upsert_result(
                NpiRecord(outcome.npi, outcome.status, outcome.provider_name, outcome.error_message, response=response)
            )

        report = (
            api.lookup(todo, on_result, stop=stop, max_new=config.max_new_lookups, progress=progress) if todo else None
        )
        final = Counter(cache.statuses(npis).values())
    metadata = {
        "dagster/row_count": len(npis),
        "identifiers": len(npis),
        "invalid_no_request": len(invalid),
        "bulk_hits": len(bulk_hits),
        "asked_api": len(todo),
        **{f"status_{k}": final.get(k, 0) for k in ("ok", "not_found", "error", "invalid")},
        "missing_cache": len(npis) - sum(final.values()),
        **_report_metadata(report),
    }
    left = report is not None and (report.stopped or report.not_attempted)
    settled = not final.get("error") and not metadata["missing_cache"] and not stop.is_set() and not left
    plain = {k: v for k, v in metadata.items() if isinstance(v, int | float | str | bool)}
    stamp.record(built_from, settled=settled, config=config.model_dump(), metadata=plain)  # the cache is closed
    return metadata


def resolve_codes(
    layout: DataLayout,
    api: ClinicalTablesResource,
    config: ResolutionConfig,
    stop: threading.Event,
    progress: LookupProgress,
    codes: list[str],
) -> dict[str, object]:
    """Fallback first (and re-check of cached ``not_found``), then Clinical Tables for Level II codes."""
    fallback_csv = str(layout.cpt_fallback)
    fallback = read_fallback(layout.cpt_fallback)
    index = hcpcs_cache.fallback_index(fallback)
    with HcpcsCache(layout.hcpcs_cache) as cache:
        recovered = cache.recheck_not_found(fallback, fallback_csv)
        seeded = cache.seed_from_fallback(codes, fallback, fallback_csv)
        unsettled = sorted({c.strip().upper() for c in cache.to_fetch(codes)})
        impossible = [c for c in unsettled if not LEVEL2_CODE.fullmatch(c)]
        cache.upsert_results(
            HcpcsResult(c, "not_found", error_message="not_found: not a HCPCS Level II code (the API serves A-V only)")
            for c in impossible
        )
        todo = [] if config.skip_api else [c for c in unsettled if LEVEL2_CODE.fullmatch(c)]
        run_id = new_api_run_id()

        def on_result(outcome: clinical_tables.HcpcsOutcome, call: CallInfo) -> None:
            code = outcome.code.strip().upper()
            response = HcpcsResponse(call.url, call.params, run_id, str(int(call.requested_at)), outcome.response)
            if outcome.status == "ok":
                result = HcpcsResult(code, "ok", outcome.records, response=response)
            elif outcome.status == "absent" and code in index:  # the API does not know it; the fallback does
                result = HcpcsResult(code, "ok", tuple(index[code]))
            elif outcome.status == "absent":
                result = HcpcsResult(code, "not_found", error_message="not_found", response=response)
            else:
                result = HcpcsResult(code, "error", error_message=outcome.error_message or "error", response=response)
            cache.upsert_results([result])

        report = (
            api.lookup(todo, on_result, stop=stop, max_new=config.max_new_lookups, progress=progress) if todo else None
        )
        final = Counter(cache.statuses(codes).values())
    return {
        "dagster/row_count": len(codes),
        "identifiers": len(codes),
        "seeded_from_fallback": len(seeded),
        "recovered_from_fallback": len(recovered),
        "not_level2_no_request": len(impossible),
        "asked_api": len(todo),
        **{f"status_{k}": final.get(k, 0) for k in ("ok", "not_found", "error")},
        "missing_cache": len(codes) - sum(final.values()),
        "fallback_csv": dg.MetadataValue.path(fallback_csv),
        **_report_metadata(report),
    }


def write_npi_mapping(layout: DataLayout) -> int:
    """``npi_provider_mapping.csv`` from the NPI cache (ok and not_found rows, by NPI)."""
    with NpiCache(layout.npi_cache) as cache:
        return write_csv(layout.npi_mapping, NPI_MAPPING_COLUMNS, cache.mapping_rows())


def write_hcpcs_mapping(layout: DataLayout) -> int:
    """``hcpcs_code_mapping.csv`` from the HCPCS cache (every ok record, non-NOC first)."""
    with HcpcsCache(layout.hcpcs_cache) as cache:
        return write_csv(layout.hcpcs_mapping, HCPCS_MAPPING_COLUMNS, cache.mapping_rows())


def write_mappings(layout: DataLayout) -> None:
    """Both mappings from whatever the caches hold, so an interrupted run still leaves current mappings."""
    write_npi_mapping(layout)
    write_hcpcs_mapping(layout)


def _report_metadata(report) -> dict[str, object]:
    if report is None:
        return {"requests": 0}
    meta = report.metadata()
    return {
        "requests": report.requests,
        "lookup_report": dg.MetadataValue.json(json.loads(json.dumps(meta, default=str))),
    }


def run_stoppable(
    jobs: dict[str, Callable[[threading.Event], dict]],
    log: dg.DagsterLogManager,
    on_interrupt: Callable[[], None] = lambda: None,
    stop_requested: Callable[[], bool] = lambda: False,
) -> dict[str, dict]:
    """Run ``jobs`` in threads and return their results.

    A stop (``stop_requested()``, asked every 0.2 s: the run is being canceled; or an interrupt: Ctrl-C, or the run
    being terminated, which Dagster raises as ``DagsterExecutionInterruptedError`` in this thread) lets requests in
    flight finish; then
    ``on_interrupt`` writes what can be written, and the step ends normally with what was resolved, so the
    outputs after it are still written. The next run asks only what is still unsettled.
    """
    stop = threading.Event()
    results: dict[str, dict] = {}
    errors: dict[str, BaseException] = {}
    # Waited on instead of Thread.join: before Python 3.13 a join interrupted by a signal (how Dagster delivers a
    # termination) can mark the still-running thread stopped, and the results would be taken with requests in flight.
    finished = {name: threading.Event() for name in jobs}

    def target(name: str, job: Callable[[threading.Event], dict]) -> None:
        try:
            results[name] = job(stop)
        except BaseException as exc:  # reported in the step's thread below
            errors[name] = exc
            stop.set()
        finally:
            finished[name].set()

    for item in jobs.items():
        threading.Thread(target=target, args=item, name=f"lookup-{item[0]}").start()
    while not all(event.is_set() for event in finished.values()):
        try:
            for event in finished.values():
                event.wait(0.2)
            if not stop.is_set() and stop_requested():
                log.warning("stop requested: requests in flight finish, then the caches are exported")
                stop.set()
        except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
            log.warning("interrupted: letting requests in flight finish, committing the caches, writing the mappings")
            stop.set()
            for event in finished.values():
                event.wait()
            on_interrupt()
    for name in results:
        results[name][STOPPED_EARLY] = stop.is_set() and name not in errors
        results[name][REMAINING] = results[name].get("missing_cache", 0)
    for name, exc in errors.items():
        raise RuntimeError(f"{name} resolution failed: {exc}") from exc
    return results


def _hand_off(key: dg.AssetKey, columns: list[str]) -> dg.AssetIn:
    """A hand-off value loaded by the IO manager: only ``columns``; None when never stored (checked when used)."""
    return dg.AssetIn(key, metadata={COLUMNS: columns, ALLOW_MISSING: True})


@dg.multi_asset(
    ins={
        "dataset_npis": _hand_off(DATASET_NPIS, ["npi"]),
        "npi_bulk_rows": _hand_off(NPI_BULK_ROWS, BULK_COLUMNS),
        "dataset_codes": _hand_off(DATASET_CODES, ["hcpcs_code"]),
    },
    deps=[FALLBACK],
    outs={
        "npi_cache": dg.AssetOut(
            key=NPI_CACHE,
            group_name=GROUP,
            kinds={"sqlite", "http"},
            owners=OWNERS,
            tags={"identifier": "npi"},
            is_required=False,
            description=(
                "Every dataset NPI settled in data/cache/npi/npi_provider_cache.sqlite: check digit first (invalid, "
                "no request), NPPES bulk rows, then the NPI Registry API; errors are retried on the next run. Picture: "
                "the dataset's NPIs per status, metadata entry `statuses` (click [Show Markdown])."
            ),
        ),
        "hcpcs_cache": dg.AssetOut(
            key=HCPCS_CACHE,
            group_name=GROUP,
            kinds={"sqlite", "http"},
            owners=OWNERS,
            tags={"identifier": "hcpcs"},
            is_required=False,
            description=(
                "Every dataset code settled in data/cache/hcpcs/hcpcs_code_cache.sqlite: the CPT/HCPCS fallback, then "
                "batched Clinical Tables queries (one by one when a batch fails); all records per code kept. Picture: "
                "the dataset's codes per status, metadata entry `statuses` (click [Show Markdown])."
            ),
        ),
    },
    # With ``ins`` (which carry load metadata), which input feeds which cache is said here, not by spec deps.
    internal_asset_deps={"npi_cache": {DATASET_NPIS, NPI_BULK_ROWS}, "hcpcs_cache": {DATASET_CODES, FALLBACK}},
    can_subset=True,
)
def identifier_caches(
    context: dg.AssetExecutionContext,
    config: ResolutionConfig,
    data: DataDirResource,
    npi_registry: NpiRegistryResource,
    clinical_tables_api: ClinicalTablesResource,
    run_control: RunControlResource,
    progress: ProgressResource,
    dataset_npis: pa.Table | None,
    npi_bulk_rows: pa.Table | None,
    dataset_codes: pa.Table | None,
):
    """Resolve NPIs and codes at once, in two threads of this step; a stop of the run ends them gracefully.

    The identifier sets arrive loaded by the IO manager (parquet files read, or a short read of the warehouse
    tables): this step never holds the DuckDB file while it runs."""
    layout = data.layout
    jobs: dict[str, Callable[[threading.Event], dict]] = {}
    if NPI_CACHE in context.selected_asset_keys:
        npis = column_values(dataset_npis, "npi", "resolution/dataset_npis")
        if npi_bulk_rows is None:
            context.log.warning("resolution/npi_bulk_rows is not stored: no NPPES preload, every NPI goes to the API")
        bulk = npi_bulk_rows.to_pylist() if npi_bulk_rows is not None else []
        jobs["npi"] = lambda stop: resolve_npis(
            layout, npi_registry, config, stop, progress.lookup(context, "NPI Registry"), npis, bulk
        )
    if HCPCS_CACHE in context.selected_asset_keys:
        codes = column_values(dataset_codes, "hcpcs_code", "resolution/dataset_codes")
        jobs["hcpcs"] = lambda stop: resolve_codes(
            layout, clinical_tables_api, config, stop, progress.lookup(context, "Clinical Tables"), codes
        )
    watch = run_control.watch(context)
    results = run_stoppable(
        jobs, context.log, on_interrupt=lambda: write_mappings(layout), stop_requested=watch.requested
    )
    keys = {"npi": NPI_CACHE, "hcpcs": HCPCS_CACHE}
    for name, metadata in results.items():
        path = layout.npi_cache if name == "npi" else layout.hcpcs_cache
        yield dg.MaterializeResult(asset_key=keys[name], metadata={**metadata, **_cache_metadata(name, path, metadata)})


def _cache_metadata(name: str, path: Path, metadata: dict[str, object]) -> dict[str, object]:
    """The cache table's columns, and a picture of where the dataset's identifiers stand."""
    with closing(sqlite3.connect(path)) as conn:
        columns = {column: type_ for _, column, type_, *_ in conn.execute(f"PRAGMA table_info({name}_cache)")}
    statuses = {key.removeprefix("status_"): value for key, value in metadata.items() if key.startswith("status_")}
    statuses["missing_cache"] = metadata["missing_cache"]
    chart = category_counts_png({name: statuses}, f"Dataset {name.upper()} identifiers per resolution status")
    return {
        "dagster/column_schema": column_schema(columns),
        "statuses": image_metadata(chart, f"{name} identifiers per resolution status"),
        "cache": dg.MetadataValue.path(str(path)),
    }

"""Checks of the outputs against the caches they are written from: each dataset identifier once, allowed statuses,
the same cache state in every file, and a warning when too much is left unresolved.

A stopped run writes its outputs from the caches as they stand: these checks prove that every output says the same
about every identifier, so a partial run is visible (warn) but never contradicts itself.
"""

import csv
from collections import Counter
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.defs.reference.resolution.keys import (
    HCPCS_DATASET,
    NPI_DATASET,
    NPI_MAPPING,
    UNRESOLVED,
)
from medicaid_assets.defs.reference.resolution.npi_cache import MAPPING_STATUSES, NpiCache
from medicaid_assets.defs.reference.resolution.outputs import CODES_IN, NPIS_IN
from medicaid_assets.defs.reference.resolution.writers import UNRESOLVED_STATUSES
from medicaid_assets.layout import DataLayout

# Above this share of dataset identifiers unresolved, the report warns: the lookups were stopped, the API was down,
# or the dataset holds many malformed identifiers (the triage says which).
UNRESOLVED_WARN_SHARE = 0.25
SHOWN = 5  # identifiers named in a check's description of a problem


def _named(what: str, values: set[str] | list[str]) -> str:
    shown = ", ".join(sorted(values)[:SHOWN])
    return f"{len(values):,} {what} (e.g. {shown})"


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def duplicates_and_missing(column: list[str], expected: list[str]) -> list[str]:
    """Problems of ``column`` as one row per identifier of ``expected``: repeated, missing or extra identifiers."""
    counts = Counter(column)
    problems = []
    if repeated := {value for value, n in counts.items() if n > 1}:
        problems.append(_named("identifiers on more than one row", repeated))
    if missing := set(expected) - set(counts):
        problems.append(_named("dataset identifiers missing", missing))
    if extra := set(counts) - set(expected):
        problems.append(_named("identifiers not in the dataset", extra))
    return problems


def npi_disagreements(layout: DataLayout, npis: list[str], report_path: Path | None = None) -> list[str]:
    """How the NPI outputs (dataset, mapping, unresolved report) differ from the NPI cache, for the dataset ``npis``."""
    with NpiCache(layout.npi_cache) as cache:
        statuses = cache.statuses(npis)
    mapped = {npi for npi, status in statuses.items() if status in MAPPING_STATUSES}
    table = pq.read_table(layout.npi_dataset, columns=["npi", "url", "error_message"]).to_pylist()
    problems = duplicates_and_missing([row["npi"] for row in table], npis)
    missing_rows = {row["npi"] for row in table if row["error_message"] == "missing_cache"}
    if wrong := missing_rows ^ (set(npis) - set(statuses)):
        problems.append(_named(f"NPIs whose missing_cache in {layout.npi_dataset.name} differs from the cache", wrong))
    bulk_unknown = {
        row["npi"] for row in table if (row["url"] or "").startswith("nppes_bulk") and row["npi"] not in statuses
    }
    if bulk_unknown:
        problems.append(
            _named(f"NPIs with a bulk row in {layout.npi_dataset.name} the cache has not settled", bulk_unknown)
        )
    mapping = {row["npi"] for row in _csv_rows(layout.npi_mapping)}
    if wrong := (mapped - mapping):
        problems.append(_named(f"settled NPIs missing from {layout.npi_mapping.name}", wrong))
    report_path = report_path or layout.unresolved_report
    report = {row["identifier"]: row["status"] for row in _csv_rows(report_path) if row["identifier_type"] == "npi"}
    expected = {npi: statuses.get(npi, "missing_cache") for npi in npis if statuses.get(npi) != "ok"}
    if wrong := {npi for npi in set(report) | set(expected) if report.get(npi) != expected.get(npi)}:
        problems.append(_named(f"NPIs whose status in {report_path.name} differs from the cache", wrong))
    return problems


def _report_path(context: dg.AssetCheckExecutionContext, layout: DataLayout) -> Path:
    """Where the unresolved report was last written (its path may be configured per run)."""
    event = context.instance.get_latest_materialization_event(UNRESOLVED)
    path = event.asset_materialization.metadata.get("path") if event and event.asset_materialization else None
    return Path(path.value) if path is not None else layout.unresolved_report


def _result(problems: list[str], **metadata: object) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) or None,
        metadata={"problems": len(problems), **metadata},
    )


@dg.asset_check(
    asset=NPI_DATASET,
    additional_ins={"dataset_npis": NPIS_IN},
    description="Every dataset NPI is on exactly one row of npi.parquet, and no other NPI is.",
)
def npi_dataset_one_row_per_npi(data: DataDirResource, dataset_npis: pa.Table) -> dg.AssetCheckResult:
    npis = dataset_npis.column("npi").to_pylist()
    column = pq.read_table(data.layout.npi_dataset, columns=["npi"]).column("npi").to_pylist()
    return _result(duplicates_and_missing(column, npis), rows=len(column))


@dg.asset_check(
    asset=HCPCS_DATASET,
    additional_ins={"dataset_codes": CODES_IN},
    description="Every dataset code is on exactly one row of hcpcs.parquet, and no other code is.",
)
def hcpcs_dataset_one_row_per_code(data: DataDirResource, dataset_codes: pa.Table) -> dg.AssetCheckResult:
    codes = dataset_codes.column("hcpcs_code").to_pylist()
    column = pq.read_table(data.layout.hcpcs_dataset, columns=["hcpcs_code"]).column("hcpcs_code").to_pylist()
    return _result(duplicates_and_missing(column, codes), rows=len(column))


@dg.asset_check(
    asset=UNRESOLVED,
    additional_ins={"dataset_npis": NPIS_IN},
    additional_deps=[NPI_DATASET, NPI_MAPPING],
    description="npi.parquet, the NPI mapping and the unresolved report say what the NPI cache says of every dataset "
    "NPI (a stopped run leaves missing_cache in all three, never a bulk row in one and missing_cache in another).",
)
def npi_outputs_agree_with_cache(
    context: dg.AssetCheckExecutionContext, data: DataDirResource, dataset_npis: pa.Table
) -> dg.AssetCheckResult:
    npis = dataset_npis.column("npi").to_pylist()
    return _result(npi_disagreements(data.layout, npis, _report_path(context, data.layout)))


@dg.asset_check(
    asset=UNRESOLVED,
    additional_ins={"dataset_npis": NPIS_IN, "dataset_codes": CODES_IN},
    description="Statuses are in the allowed set (not_found, error, invalid, missing_cache); warns when more than "
    f"{UNRESOLVED_WARN_SHARE:.0%} of the dataset's identifiers are unresolved (a stopped run, an API down).",
)
def unresolved_statuses_and_share(
    context: dg.AssetCheckExecutionContext, data: DataDirResource, dataset_npis: pa.Table, dataset_codes: pa.Table
) -> dg.AssetCheckResult:
    rows = _csv_rows(_report_path(context, data.layout))
    wrong = {f"{row['identifier']} ({row['status']})" for row in rows if row["status"] not in UNRESOLVED_STATUSES}
    problems = [_named("rows with a status outside the allowed set", wrong)] if wrong else []
    total = dataset_npis.num_rows + dataset_codes.num_rows
    share = len(rows) / total if total else 0.0
    missing = sum(1 for row in rows if row["status"] == "missing_cache")
    if share > UNRESOLVED_WARN_SHARE:
        problems.append(
            f"{share:.0%} of the dataset's identifiers are unresolved ({missing:,} never asked: run build-datasets "
            "again to resume)"
        )
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR if wrong else dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={"unresolved_share": dg.MetadataValue.float(round(share, 4)), "missing_cache": missing},
    )

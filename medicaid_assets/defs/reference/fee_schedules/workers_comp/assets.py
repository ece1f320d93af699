"""Workers'-comp schedules of the states that publish code tables: the file as posted, then one long table."""

import dataclasses
import re
from pathlib import Path

import dagster as dg
import polars as pl

from medicaid_assets.core.download import file_name_from_url
from medicaid_assets.core.safe_zip import check_archive
from medicaid_assets.dagster_kit.io_managers import PARTITION_EXPR
from medicaid_assets.dagster_kit.metadata import OWNERS, markdown_table
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.defs.reference.fee_schedules.keys import (
    GROUP,
    OPPS_HCPCS_RATES,
    RELEASE_COLUMN,
    STATE_COLUMN,
    WC_FILES,
    WC_MAXIMUMS,
    WC_MULTIPLIER_MAXIMUMS,
    wc_states,
)
from medicaid_assets.defs.reference.fee_schedules.workers_comp.california import MULTIPLIER_RULES, multiplier_rows
from medicaid_assets.defs.reference.fee_schedules.workers_comp.handlers import (
    COLUMNS,
    WcRow,
    csv_rows,
    handler_for,
    xlsx_sheets,
)
from medicaid_assets.defs.reference.fee_schedules.workers_comp.states import TABLE_STATES

TAGS = {"source": "state", "fee_schedule": "workers_comp"}
_YEAR = re.compile(r"(?<!\d)(20\d\d)(?!\d)")
POLARS = {"VARCHAR": pl.String, "INTEGER": pl.Int32, "DOUBLE": pl.Float64}
assert tuple(wc_states.get_partition_keys()) == TABLE_STATES, "keys.wc_states and the handlers disagree"


def state_urls(entries: list[str]) -> dict[str, str]:
    """``["GA=https://…", …]`` → {state: url}; a malformed entry is an error naming it."""
    out = {}
    for entry in entries:
        state, sep, url = entry.partition("=")
        if (
            not sep
            or not re.fullmatch(r"[A-Z]{2}", state.strip())
            or not url.strip().startswith(("http://", "https://"))
        ):
            raise ValueError(f"MEDICAID_WC_FEE_SCHEDULE_URLS entry {entry!r} is not STATE=http(s)://…")
        out[state.strip()] = url.strip()
    return out


def _frame(rows: list[WcRow]) -> pl.DataFrame:
    schema = {name: POLARS[kind] for name, kind in COLUMNS.items()}
    return pl.DataFrame([dataclasses.asdict(r) for r in rows], schema=schema, orient="row")


def _state_folder(data: DataDirResource, state: str) -> Path:
    return data.layout.fee_schedules / "workers_comp" / state


@dg.asset(
    key=WC_FILES,
    partitions_def=wc_states,
    group_name=GROUP,
    kinds={"http"},
    owners=OWNERS,
    tags=TAGS,
    description="One state's workers'-comp fee schedule as the state posts it (GA: workbook `.xlsx`; NC: `.csv`), "
    "from MEDICAID_WC_FEE_SCHEDULE_URLS, in raw/fee_schedules/workers_comp/<state>/ (written in place: raw files).",
)
def wc_fee_schedules(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
) -> dg.MaterializeResult:
    state = context.partition_key
    url = state_urls(sources.wc_fee_schedule_urls).get(state)
    if url is None:
        raise dg.Failure(f"no fee-schedule URL for {state}: add {state}=<url> to MEDICAID_WC_FEE_SCHEDULE_URLS")
    dest = _state_folder(data, state) / file_name_from_url(url)
    is_workbook = dest.suffix.lower() == ".xlsx"  # a workbook is a zip: sizes checked like any archive
    result = files.download(
        url,
        dest,
        log=context.log,
        validate=(lambda p: check_archive(p, data.max_extract_bytes)) if is_workbook else None,
    )
    for old in _state_folder(data, state).iterdir():  # one file per state: a renamed newer edition replaces the old
        if old.name != dest.name and not old.name.startswith(dest.name):
            old.unlink()
    return dg.MaterializeResult(
        metadata={"dagster/row_count": 1, "path": dg.MetadataValue.path(str(dest)), **result.metadata()},
        data_version=dg.DataVersion(result.sha256),
    )


@dg.asset(
    key=WC_MAXIMUMS,
    deps=[WC_FILES],
    partitions_def=wc_states,
    group_name=GROUP,
    kinds={"polars"},
    owners=OWNERS,
    tags=TAGS,
    metadata={PARTITION_EXPR: STATE_COLUMN},
    pool="duckdb",
    description="A state's workers'-comp maximums, one row per code × modifier × setting (professional, facility, "
    "OPPS, ASC, anesthesia base units), read by the state's handler: leading zeros restored (`100` → `00100`), "
    "glued modifiers split (`45378-53`), `BR` and formula cells left null and counted.",
)
def wc_maximums(context: dg.AssetExecutionContext, data: DataDirResource) -> pl.DataFrame:
    state = context.partition_key
    files = sorted(p for p in _state_folder(data, state).glob("*") if p.suffix.lower() in (".xlsx", ".csv"))
    if not files:
        raise dg.Failure(f"no schedule file for {state}; materialize {WC_FILES.to_user_string()} first")
    path = files[0]
    sheets = xlsx_sheets(path) if path.suffix.lower() == ".xlsx" else {path.name: csv_rows(path.read_bytes())}
    year = _YEAR.search(path.name)
    parse = handler_for(state)(sheets, int(year.group(1)) if year else None)
    if not parse.rows:
        raise dg.Failure(f"{state} {path.name}: the handler found no rows; the previous table is kept")
    for cell in parse.formula_cells:
        context.log.warning(f"formula cell, not a value (left out): {cell}")
    frame = _frame(parse.rows)
    preview = frame.head(10)
    context.add_output_metadata(
        {
            "preview": dg.MetadataValue.md(markdown_table(preview.columns, preview.rows())),
            "source_file": path.name,
            "formula_cells": dg.MetadataValue.json(parse.formula_cells),
            "by_report": len(parse.by_report),
            "skipped_sheets": dg.MetadataValue.json(parse.skipped),
        }
    )
    return frame


@dg.asset(
    key=WC_MULTIPLIER_MAXIMUMS,
    ins={"addendum_b": dg.AssetIn(OPPS_HCPCS_RATES, metadata={"allow_missing_partitions": True})},
    group_name=GROUP,
    kinds={"polars"},
    owners=OWNERS,
    tags=TAGS,
    pool="duckdb",
    description="Workers'-comp maximums of the states that set them as multiples of Medicare (CA: 122 % of the "
    "OPPS amount for hospital outpatient, 97.6 % for ASCs), from the newest stored OPPS Addendum B release; the "
    "same columns as wc_maximums, basis = medicare_multiplier.",
)
def wc_multiplier_maximums(context: dg.AssetExecutionContext, addendum_b: pl.DataFrame) -> pl.DataFrame:
    if addendum_b.is_empty():
        raise dg.Failure("no OPPS release stored yet; materialize an opps_release_job partition first")
    release = str(addendum_b[RELEASE_COLUMN].max())
    paid = addendum_b.filter((pl.col(RELEASE_COLUMN) == release) & (pl.col("payment_rate") > 0))
    medicare = {"opps": paid.select("hcpcs", "short_descriptor", "payment_rate").rows()}
    rows = [row for rule in MULTIPLIER_RULES.values() for row in multiplier_rows(rule, int(release[:4]), medicare).rows]
    context.add_output_metadata({"release": release, "states": dg.MetadataValue.json(sorted(MULTIPLIER_RULES))})
    return _frame(rows)


wc_job = dg.define_asset_job(
    "wc_fee_schedule_job",
    selection=dg.AssetSelection.assets(WC_FILES, WC_MAXIMUMS),
    description="Download and read one state's workers'-comp fee schedule.",
)

"""OPPS Addendum A and B, one partition per quarterly release: the zips as CMS posts them, then one table each."""

import re

import dagster as dg
import polars as pl

from medicaid_assets.dagster_kit.io_managers import PARTITION_EXPR
from medicaid_assets.dagster_kit.metadata import OWNERS
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.defs.reference.fee_schedules.keys import (
    GROUP,
    OPPS_ADDENDA,
    OPPS_APC_RATES,
    OPPS_HCPCS_RATES,
    RELEASE_COLUMN,
    opps_releases,
)
from medicaid_assets.defs.reference.fee_schedules.opps_asc_cells import decode
from medicaid_assets.defs.reference.fee_schedules.opps_asc_common import (
    addendum_frame,
    download_release,
    frame_metadata,
    read_csv_member,
    release_sensor,
)
from medicaid_assets.defs.reference.fee_schedules.opps_parse import ADDENDUM_A, ADDENDUM_B, parse_addendum

KINDS = {"addendum_a": re.compile(r"addendum[\s_-]*a\b", re.I), "addendum_b": re.compile(r"addendum[\s_-]*b\b", re.I)}
TAGS = {"source": "cms", "fee_schedule": "opps"}


@dg.asset(
    key=OPPS_ADDENDA,
    partitions_def=opps_releases,
    group_name=GROUP,
    kinds={"zip", "http"},
    owners=OWNERS,
    tags=TAGS,
    description="The quarterly OPPS Addendum A and Addendum B zips of one release (partition `2025Q1` …), as linked "
    "from the CMS addenda page, in raw/fee_schedules/opps/<release>/ (written in place: raw downloads).",
)
def opps_addenda(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
) -> dg.MaterializeResult:
    folder = data.layout.fee_schedules / "opps"
    return download_release(context, files, sources.opps_addenda_url, KINDS, folder, data.max_extract_bytes)


def _parsed(context: dg.AssetExecutionContext, data: DataDirResource, kind: str, layout: dict) -> pl.DataFrame:
    release = context.partition_key
    member, raw = read_csv_member(data.layout.fee_schedules / "opps", release, kind, data.max_extract_bytes)
    addendum = parse_addendum(decode(raw), layout, f"{release} {member}")
    if not addendum.rows:
        raise dg.Failure(f"{release} {member}: no rows parsed; the previous table is kept")
    frame = addendum_frame(addendum, layout, release)
    context.add_output_metadata(frame_metadata(frame, addendum, member))
    return frame


@dg.asset(
    key=OPPS_APC_RATES,
    deps=[OPPS_ADDENDA],
    partitions_def=opps_releases,
    group_name=GROUP,
    kinds={"polars"},
    owners=OWNERS,
    tags=TAGS,
    metadata={PARTITION_EXPR: RELEASE_COLUMN},
    pool="duckdb",
    description="OPPS Addendum A of one release: per APC its status indicator, relative weight, national payment "
    "rate and copayments (`$4,146.335` → 4146.335, `.` → null).",
)
def opps_apc_rates(context: dg.AssetExecutionContext, data: DataDirResource) -> pl.DataFrame:
    return _parsed(context, data, "addendum_a", ADDENDUM_A)


@dg.asset(
    key=OPPS_HCPCS_RATES,
    deps=[OPPS_ADDENDA],
    partitions_def=opps_releases,
    group_name=GROUP,
    kinds={"polars"},
    owners=OWNERS,
    tags=TAGS,
    metadata={PARTITION_EXPR: RELEASE_COLUMN},
    pool="duckdb",
    description="OPPS Addendum B of one release: per HCPCS code its status indicator, APC, relative weight and "
    "national payment rate (null for codes not paid separately).",
)
def opps_hcpcs_rates(context: dg.AssetExecutionContext, data: DataDirResource) -> pl.DataFrame:
    return _parsed(context, data, "addendum_b", ADDENDUM_B)


opps_release_job = dg.define_asset_job(
    "opps_release_job",
    selection=dg.AssetSelection.assets(OPPS_ADDENDA, OPPS_APC_RATES, OPPS_HCPCS_RATES),
    description="Download and parse one OPPS release (Addendum A and B).",
)
opps_release_sensor = release_sensor(
    "opps_release_sensor", opps_release_job.name, opps_releases, "opps_addenda_url", KINDS
)

"""ASC Addendum AA, one partition per quarterly release: the zip as CMS posts it, then the rates table."""

import re

import dagster as dg
import polars as pl

from medicaid_assets.dagster_kit.io_managers import PARTITION_EXPR
from medicaid_assets.dagster_kit.metadata import OWNERS
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.defs.reference.fee_schedules.asc_parse import ADDENDUM_AA, parse_addendum_aa
from medicaid_assets.defs.reference.fee_schedules.keys import (
    ASC_ADDENDA,
    ASC_RATES,
    GROUP,
    RELEASE_COLUMN,
    asc_releases,
)
from medicaid_assets.defs.reference.fee_schedules.opps_asc_cells import decode, release_of
from medicaid_assets.defs.reference.fee_schedules.opps_asc_common import (
    addendum_frame,
    download_release,
    frame_metadata,
    read_csv_member,
    release_sensor,
)

KINDS = {"addenda": re.compile(r"\basc\b", re.I)}
TAGS = {"source": "cms", "fee_schedule": "asc"}


@dg.asset(
    key=ASC_ADDENDA,
    partitions_def=asc_releases,
    group_name=GROUP,
    kinds={"zip", "http"},
    owners=OWNERS,
    tags=TAGS,
    description="The quarterly ASC addenda zip of one release (partition `2025Q4` …), as linked from the CMS ASC "
    "payment-rates page, in raw/fee_schedules/asc/<release>/ (written in place: raw downloads).",
)
def asc_addenda(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
) -> dg.MaterializeResult:
    folder = data.layout.fee_schedules / "asc"
    return download_release(context, files, sources.asc_addenda_url, KINDS, folder, data.max_extract_bytes)


@dg.asset(
    key=ASC_RATES,
    deps=[ASC_ADDENDA],
    partitions_def=asc_releases,
    group_name=GROUP,
    kinds={"polars"},
    owners=OWNERS,
    tags=TAGS,
    metadata={PARTITION_EXPR: RELEASE_COLUMN},
    pool="duckdb",
    description="ASC Addendum AA of one release: per HCPCS code its payment indicator, payment weight, national "
    "payment rate and the `**`/`*` marker; the header's month must agree with the partition.",
)
def asc_rates(context: dg.AssetExecutionContext, data: DataDirResource) -> pl.DataFrame:
    release = context.partition_key
    member, raw = read_csv_member(data.layout.fee_schedules / "asc", release, "addenda", data.max_extract_bytes)
    addendum = parse_addendum_aa(decode(raw), f"{release} {member}")
    if release_of(addendum.month) != release:
        raise dg.Failure(f"{release} {member}: its header names {addendum.month!r}, not release {release}")
    if not addendum.rows:
        raise dg.Failure(f"{release} {member}: no rows parsed; the previous table is kept")
    frame = addendum_frame(addendum, ADDENDUM_AA, release)
    context.add_output_metadata(frame_metadata(frame, addendum, member))
    return frame


asc_release_job = dg.define_asset_job(
    "asc_release_job",
    selection=dg.AssetSelection.assets(ASC_ADDENDA, ASC_RATES),
    description="Download and parse one ASC release (Addendum AA).",
)
asc_release_sensor = release_sensor("asc_release_sensor", asc_release_job.name, asc_releases, "asc_addenda_url", KINDS)

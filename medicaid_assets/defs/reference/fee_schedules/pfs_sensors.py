"""New physician fee schedule releases become partitions: one GET of the CMS page per tick, no download."""

import dagster as dg
import httpx

from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import SourcesResource
from medicaid_assets.dagster_kit.sensors import new_partitions
from medicaid_assets.defs.reference.fee_schedules.keys import (
    PFS_AMOUNTS,
    PFS_LOCALITIES,
    PFS_RELEASE,
    PFS_RVUS,
    PFS_STATE_AMOUNTS,
    pfs_release_partitions,
)
from medicaid_assets.defs.reference.fee_schedules.pfs_parse import release_links

PAGE_TIMEOUT_SECONDS = 30.0  # sensors are cut off at 60 s

pfs_release_job = dg.define_asset_job(
    "pfs_release_job",
    selection=[PFS_RELEASE, PFS_RVUS, PFS_LOCALITIES, PFS_AMOUNTS, PFS_STATE_AMOUNTS],
    description="Download one physician fee schedule release and build its RVU, locality and payment-amount tables.",
)


@dg.sensor(
    job=pfs_release_job,
    minimum_interval_seconds=24 * 3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Daily GET of the CMS PFS Relative Value Files page: each release quarter not seen before becomes a "
    "partition of the fee schedule and one run of pfs_release_job (run_key = the release).",
)
def pfs_release_sensor(
    context: dg.SensorEvaluationContext, files: HttpFilesResource, sources: SourcesResource
) -> dg.SensorResult | dg.SkipReason:
    """The cursor is the list of releases seen; releases the instance already has count as seen too."""
    try:
        page = files.get_page(sources.pfs_index_url, attempts=1, timeout=PAGE_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        return dg.SkipReason(f"PFS page {sources.pfs_index_url}: {type(exc).__name__}: {exc}")
    if page.status_code != 200:
        return dg.SkipReason(f"PFS page {sources.pfs_index_url}: HTTP {page.status_code}")
    return new_partitions(context, pfs_release_partitions, release_links(page.text, str(page.url)), "release")

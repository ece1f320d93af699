"""New weekly NPPES bundles become partitions: one quick look at the files page, no download in the sensor."""

import dagster as dg

from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import SourcesResource
from medicaid_assets.dagster_kit.sensors import new_partitions
from medicaid_assets.defs.publish.keys import PUBLISH_ASSETS
from medicaid_assets.defs.reference.nppes.assets import WEEKLY_ASSETS, files_page_links, nppes_weekly_partitions
from medicaid_assets.defs.reference.nppes.bundles import bundle_key, chronological

PAGE_TIMEOUT_SECONDS = 30.0  # sensors are cut off at 60 s

nppes_weekly_job = dg.define_asset_job(
    "nppes_weekly_job",
    # Publishing (group `publish`) is downstream of the outputs but opt-in: it runs only in the `publish` job.
    selection=WEEKLY_ASSETS.downstream() - PUBLISH_ASSETS,
    description="Download one weekly NPPES bundle, apply it to the provider tables, and re-resolve the NPIs it "
    "touches (their bulk rows, the NPI cache and the NPI outputs).",
)


@dg.sensor(
    job=nppes_weekly_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Hourly GET of the NPPES files page (or the pinned weekly URL): each weekly V2 zip not seen before "
    "becomes a partition of nppes_weekly and one run of nppes_weekly_job (run_key = the partition key).",
)
def nppes_weekly_sensor(
    context: dg.SensorEvaluationContext, files: HttpFilesResource, sources: SourcesResource
) -> dg.SensorResult | dg.SkipReason:
    """The cursor is the cumulative list of keys seen; keys the instance already has count as seen too."""
    if sources.nppes_weekly_url:
        listed = [bundle_key(sources.nppes_weekly_url)]
    else:
        links = files_page_links(files, sources.nppes_files_page_url, timeout=PAGE_TIMEOUT_SECONDS, attempts=1)
        listed = [bundle_key(url) for url in links.weekly]
    return new_partitions(context, nppes_weekly_partitions, listed, "weekly bundle", order=chronological)

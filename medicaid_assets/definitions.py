"""The code location: every asset family, with resources built from one :class:`Settings`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import timedelta

import dagster as dg

from medicaid_assets.defs import codes, nppes, outputs, publish, resolution, spending
from medicaid_assets.resources.apis import ClinicalTablesResource, NpiRegistryResource
from medicaid_assets.resources.files import HttpFilesResource
from medicaid_assets.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.resources.warehouse import WarehouseResource
from medicaid_assets.settings import Settings

# One package per asset family; each exposes definitions() without resources.
FAMILIES = (spending, nppes, codes, resolution, outputs, publish)

main_job = dg.define_asset_job(
    "medicaid_pipeline",
    # Weekly NPPES bundles are dynamic partitions with their own job and sensor; publishing is opt-in (job `publish`).
    selection=dg.AssetSelection.all() - nppes.assets.WEEKLY_ASSETS - publish.PUBLISH_ASSETS,
    description="The whole chain: sources → warehouse tables → resolution → outputs.",
)

# Every spending month in one run (the table's backfill policy is single-run), as the demo and CLI run it.
FULL_REFRESH_TAGS = {
    "dagster/asset_partition_range_start": spending.assets.monthly_partitions.get_first_partition_key(),
    "dagster/asset_partition_range_end": spending.assets.monthly_partitions.get_last_partition_key(),
}


@dg.schedule(
    job=main_job,
    cron_schedule="0 7 15 * *",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="The 15th of each month, 07:00 New York: the whole chain over every spending month in one run. "
    "Unchanged source files are not downloaded again and the lookups ask only what the caches lack, so a quiet "
    "month costs little. Stopped until someone turns it on.",
)
def medicaid_pipeline_schedule() -> dg.RunRequest:
    return dg.RunRequest(tags=FULL_REFRESH_TAGS)


def _days(fail: int, warn: int) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(days=fail), warn_window=timedelta(days=warn))


# How old each source may get before the UI warns and then fails it (the FreshnessDaemon evaluates it): NPPES
# posts a monthly bundle every month and a weekly one every week, CMS revises the fee schedule quarterly, HHS
# has released the spending file about once a year.
SOURCE_FRESHNESS = {
    spending.assets.medicaid_spending_file.key: _days(400, 370),
    nppes.assets.MONTHLY_BUNDLE: _days(40, 33),
    nppes.assets.WEEKLY_BUNDLE: _days(9, 8),
    codes.assets.ARCHIVES_KEY: _days(100, 92),
    codes.assets.FALLBACK_KEY: _days(100, 92),
}


def _with_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    policy = SOURCE_FRESHNESS.get(spec.key)
    return spec if policy is None else dg.apply_freshness_policy(spec, policy)


def build_resources(
    settings: Settings,
    api: Mapping[str, object] | None = None,
    hcpcs_batch_size: int = 100,
    fallback_csv: str | None = None,
) -> dict[str, dg.ConfigurableResource]:
    """Every external system the assets touch, configured from ``settings``.

    ``api`` overrides pacing fields of both API resources (the CLI's ``--requests-per-second``, ``--concurrency``).
    """
    api = dict(api or {})
    return {
        "files": HttpFilesResource(),
        "data": DataDirResource(
            data_dir=str(settings.data_dir),
            overlays_dir=str(settings.overlays_dir),
            max_extract_bytes=settings.max_extract_bytes,
            fallback_csv=fallback_csv,
        ),
        "sources": SourcesResource(
            spending_url=settings.spending_url,
            nppes_files_page_url=settings.nppes_files_page_url,
            nppes_monthly_url=settings.nppes_monthly_url,
            nppes_weekly_url=settings.nppes_weekly_url,
            cpt_index_url=settings.cpt_index_url,
            cpt_zip_urls=list(settings.cpt_zip_urls),
        ),
        "warehouse": WarehouseResource(database=str(settings.warehouse_path)),
        "npi_registry": NpiRegistryResource(base_url=settings.npi_api_url, **api),
        "clinical_tables_api": ClinicalTablesResource(
            base_url=settings.hcpcs_api_url, batch_size=hcpcs_batch_size, **api
        ),
        **publish.resources(settings),  # huggingface; object_store when MEDICAID_OBJECT_STORE_URL is set
    }


def build_definitions(settings: Settings, **resource_options) -> dg.Definitions:
    """Definitions wired to ``settings`` (the CLI passes sample-world URLs; Dagster tools pass the env)."""
    families = dg.Definitions.merge(*(family.definitions() for family in FAMILIES))
    if settings.object_store_url:  # a bucket keeps raw files, caches and outputs (group `storage`)
        families = publish.with_object_store(families)
    with warnings.catch_warnings():  # code references are beta; they only add links in the UI
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = dg.with_source_code_references(list(families.assets or []))
    assets = dg.map_asset_specs(_with_freshness, assets)
    return dg.Definitions(
        assets=assets,
        asset_checks=families.asset_checks,
        sensors=families.sensors,
        schedules=[medicaid_pipeline_schedule, *(families.schedules or [])],
        jobs=[main_job, *(families.jobs or [])],
        resources=build_resources(settings, **resource_options),
    )


defs = build_definitions(Settings.from_env())

"""The code location: every asset family, with resources built from one :class:`Settings`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import dagster as dg

from medicaid_assets.defs import codes, nppes, outputs, resolution, spending
from medicaid_assets.resources.apis import ClinicalTablesResource, NpiRegistryResource
from medicaid_assets.resources.files import HttpFilesResource
from medicaid_assets.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.resources.warehouse import WarehouseResource
from medicaid_assets.settings import Settings

# One package per asset family; each exposes definitions() without resources.
FAMILIES = (spending, nppes, codes, resolution, outputs)

main_job = dg.define_asset_job(
    "medicaid_pipeline",
    # Weekly NPPES bundles are dynamic partitions with their own job and sensor.
    selection=dg.AssetSelection.all() - nppes.assets.WEEKLY_ASSETS,
    description="The whole chain: sources → warehouse tables → resolution → outputs.",
)


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
    }


def build_definitions(settings: Settings, **resource_options) -> dg.Definitions:
    """Definitions wired to ``settings`` (the CLI passes sample-world URLs; Dagster tools pass the env)."""
    families = dg.Definitions.merge(*(family.definitions() for family in FAMILIES))
    with warnings.catch_warnings():  # code references are beta; they only add links in the UI
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = dg.with_source_code_references(list(families.assets or []))
    return dg.Definitions(
        assets=assets,
        asset_checks=families.asset_checks,
        sensors=families.sensors,
        schedules=families.schedules,
        jobs=[main_job, *(families.jobs or [])],
        resources=build_resources(settings, **resource_options),
    )


defs = build_definitions(Settings.from_env())

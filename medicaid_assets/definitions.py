"""The code location: every asset family, with resources built from one :class:`Settings`."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from medicaid_assets.defs import codes, spending
from medicaid_assets.resources.files import HttpFilesResource
from medicaid_assets.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.settings import Settings

# One package per asset family; each exposes definitions() without resources.
FAMILIES = (spending, codes)

main_job = dg.define_asset_job(
    "medicaid_pipeline",
    selection=dg.AssetSelection.all(),
    description="The whole chain: sources → warehouse tables → resolution → outputs.",
)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every external system the assets touch, configured from ``settings``."""
    return {
        "files": HttpFilesResource(),
        "data": DataDirResource(
            data_dir=str(settings.data_dir),
            overlays_dir=str(settings.overlays_dir),
            max_extract_bytes=settings.max_extract_bytes,
        ),
        "sources": SourcesResource(
            spending_url=settings.spending_url,
            nppes_files_page_url=settings.nppes_files_page_url,
            cpt_index_url=settings.cpt_index_url,
            cpt_zip_urls=list(settings.cpt_zip_urls),
        ),
        "warehouse": DuckDBResource(database=str(settings.warehouse_path)),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    """Definitions wired to ``settings`` (the CLI passes sample-world URLs; Dagster tools pass the env)."""
    families = dg.Definitions.merge(*(family.definitions() for family in FAMILIES))
    return dg.Definitions(
        assets=dg.with_source_code_references(list(families.assets or [])),
        asset_checks=families.asset_checks,
        sensors=families.sensors,
        schedules=families.schedules,
        jobs=[main_job, *(families.jobs or [])],
        resources=build_resources(settings),
    )


defs = build_definitions(Settings.from_env())

"""The code location: every family under ``defs/`` (loaded from the folder), with resources from one :class:`Settings`.

Dagster tools load ``defs`` (``@dg.definitions``: the environment is read when the location loads); the CLI, the
benchmarks and the tests call :func:`build_definitions` with settings of their own (e.g. the sample world's URLs).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from medicaid_assets.core.object_store import parse_object_store_url
from medicaid_assets.dagster_kit.iceberg import iceberg_from_settings
from medicaid_assets.dagster_kit.io_managers import io_manager_from_settings
from medicaid_assets.dagster_kit.progress import ProgressSink
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.object_store import ObjectStoreResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.dagster_kit.run_control import ProgressResource, RunControlResource
from medicaid_assets.defs.medicaid_spending import keys as spending
from medicaid_assets.defs.price_transparency import keys as price_transparency
from medicaid_assets.defs.price_transparency.resources import PriceTransparencyResource
from medicaid_assets.defs.publish.resources import HuggingFaceResource
from medicaid_assets.defs.publish.storage import with_object_store
from medicaid_assets.defs.rates_warehouse.resources import tiles_from_settings
from medicaid_assets.defs.reference.code_sets import keys as code_sets
from medicaid_assets.defs.reference.fee_schedules import keys as fee_schedules
from medicaid_assets.defs.reference.nppes import keys as nppes
from medicaid_assets.defs.reference.resolution.resources import ClinicalTablesResource, NpiRegistryResource
from medicaid_assets.defs.resdac_medicare import keys as resdac
from medicaid_assets.defs.resdac_medicare.resources import ResdacDeliveryResource, ResdacPostgresResource
from medicaid_assets.defs.synthetic_medicare import keys as synthetic_medicare
from medicaid_assets.defs.synthetic_medicare.models import PROJECT_DIR as SYNTHETIC_MEDICARE_DBT_DIR
from medicaid_assets.defs.synthetic_medicare.models import dbt_executable
from medicaid_assets.defs.synthetic_medicare.resources import SyntheticMedicareSourcesResource
from medicaid_assets.layout import DataLayout
from medicaid_assets.settings import HF_TOKEN_VAR, RESDAC_POSTGRES_PASSWORD_VAR, Settings

DEFS_FOLDER = Path(__file__).parent / "defs"


def _days(fail: int, warn: int) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(days=fail), warn_window=timedelta(days=warn))


# How old each source may get before the UI warns and then fails it (the FreshnessDaemon evaluates it): NPPES
# posts a monthly bundle every month and a weekly one every week, CMS revises the fee schedule quarterly, HHS
# has released the spending file about once a year.
SOURCE_FRESHNESS = {
    spending.SPENDING_FILE: _days(400, 370),
    nppes.MONTHLY_BUNDLE: _days(40, 33),
    nppes.WEEKLY_BUNDLE: _days(9, 8),
    code_sets.ARCHIVES: _days(100, 92),
    code_sets.FALLBACK: _days(100, 92),
    # ResDAC delivers each year's MBSF and MedPAR once, some months after the year ends: a year and a quarter.
    resdac.RAW: _days(460, 430),
    fee_schedules.PFS_RELEASE: _days(100, 92),  # quarterly releases
    synthetic_medicare.DOWNLOADS: _days(800, 740),  # a one-off 2023 release: warn only after about two years
    # payers must post their machine-readable files monthly
    price_transparency.PAYER_TOC: _days(40, 33),
    # OPPS and ASC addenda are quarterly (per release partition); states revise workers'-comp schedules yearly.
    fee_schedules.OPPS_ADDENDA: _days(100, 92),
    fee_schedules.ASC_ADDENDA: _days(100, 92),
    fee_schedules.WC_FILES: _days(400, 370),
}


def _with_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    policy = SOURCE_FRESHNESS.get(spec.key)
    return spec if policy is None else dg.apply_freshness_policy(spec, policy)


def build_resources(
    settings: Settings,
    api: Mapping[str, object] | None = None,
    hcpcs_batch_size: int = 100,
    fallback_csv: str | None = None,
    progress_sink: ProgressSink | None = None,
) -> dict[str, dg.ConfigurableResource | dg.ResourceDefinition]:
    """Every external system the assets touch, configured from ``settings``, and the run's controls.

    ``api`` overrides pacing fields of both API resources (the CLI's ``--requests-per-second``, ``--concurrency``).
    ``progress_sink`` gets lookup progress too, when the steps run in the caller's process (the CLI's live bars).
    """
    progress = ProgressResource()
    api = dict(api or {})
    resources: dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager | dg.ResourceDefinition] = {
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
            pfs_index_url=settings.pfs_index_url,
            nucc_page_url=settings.nucc_page_url,
            opps_addenda_url=settings.opps_addenda_url,
            asc_addenda_url=settings.asc_addenda_url,
            wc_fee_schedule_urls=list(settings.wc_fee_schedule_urls),
        ),
        "warehouse": WarehouseResource(database=str(settings.warehouse_path)),
        "npi_registry": NpiRegistryResource(base_url=settings.npi_api_url, **api),
        "clinical_tables_api": ClinicalTablesResource(
            base_url=settings.hcpcs_api_url, batch_size=hcpcs_batch_size, **api
        ),
        "synthetic_medicare_sources": SyntheticMedicareSourcesResource(
            beneficiary_url=settings.synthetic_medicare_beneficiary_url,
            claims_url=settings.synthetic_medicare_claims_url,
            pde_url=settings.synthetic_medicare_pde_url,
        ),
        "synthetic_medicare_dbt": DbtCliResource(
            project_dir=str(SYNTHETIC_MEDICARE_DBT_DIR),
            profiles_dir=str(SYNTHETIC_MEDICARE_DBT_DIR),
            dbt_executable=dbt_executable(),
        ),
        "run_control": RunControlResource(),
        "iceberg": iceberg_from_settings(settings),
        "tiles": tiles_from_settings(settings),
        "progress": progress if progress_sink is None else progress.with_sink(progress_sink),
        "huggingface": HuggingFaceResource(
            endpoint=settings.hf_endpoint,
            repo_id=settings.hf_repo_id,
            # The value stays in the environment: run config and the UI show only the variable's name.
            token=dg.EnvVar(HF_TOKEN_VAR) if settings.hf_token else None,
        ),
        "resdac_delivery": ResdacDeliveryResource(
            input_dir=settings.resdac_input_dir or str(DataLayout(settings.data_dir).raw_resdac)
        ),
        "resdac_postgres": ResdacPostgresResource(
            url=settings.resdac_postgres_url,
            password=dg.EnvVar(RESDAC_POSTGRES_PASSWORD_VAR) if settings.resdac_postgres_password else None,
            read_role=settings.resdac_read_role,
        ),
    }
    resources["price_transparency"] = PriceTransparencyResource(
        allow_private_urls=settings.pt_allow_private_urls,
        **({"catalog_path": str(settings.pt_catalog)} if settings.pt_catalog else {}),
    )
    resources["io_manager"] = io_manager_from_settings(
        settings.io_manager,
        database=settings.warehouse_path,
        base=settings.io_manager_base or DataLayout(settings.data_dir).assets,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        staging_dir=settings.data_dir / "tmp" / "io",
    )
    if settings.object_store_url:
        parse_object_store_url(settings.object_store_url)  # a malformed URL fails when the code location loads
        resources["object_store"] = ObjectStoreResource(
            url=settings.object_store_url, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region
        )
    return resources


def build_definitions(
    settings: Settings, loggers: Mapping[str, dg.LoggerDefinition] | None = None, **resource_options
) -> dg.Definitions:
    """The defs folder's definitions wired to ``settings``; ``resource_options`` go to :func:`build_resources`.

    ``loggers`` replace Dagster's default console logger (the CLI prints the log on its own console)."""
    with warnings.catch_warnings():  # code references are beta; they only add links in the UI
        warnings.simplefilter("ignore", dg.BetaWarning)
        families = dg.load_from_defs_folder(path_within_project=DEFS_FOLDER)
        if settings.object_store_url:  # a bucket keeps raw files, caches and outputs (group `storage`)
            families = with_object_store(families)
        assets = dg.with_source_code_references(list(families.assets or []))
    return dg.Definitions(
        assets=dg.map_asset_specs(_with_freshness, assets),
        asset_checks=families.asset_checks,
        sensors=families.sensors,
        schedules=families.schedules,
        jobs=families.jobs,
        resources=build_resources(settings, **resource_options),
        loggers=dict(loggers) if loggers else None,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What ``dg dev``, the webserver and the daemon load: the environment's settings."""
    return build_definitions(Settings.from_env())

"""The one place that reads the environment.

Every path and external URL the code location uses is resolved here, from environment variables with
documented names (see the README's Configuration section), defaulting to the real public endpoints and
to ``data/`` beside the project. Other modules receive a :class:`Settings`; none reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_SPENDING_URL = (
    "https://stopendataprod.blob.core.windows.net/datasets/medicaid-provider-spending/"
    "2026-02-09/medicaid-provider-spending.parquet"
)
DEFAULT_NPPES_FILES_PAGE_URL = "http://download.cms.gov/nppes/NPI_Files.html"
DEFAULT_CPT_INDEX_URL = (
    "https://www.cms.gov/medicare/payment/fee-schedules/physician/national-payment-amount-file/pfrev26a"
)
DEFAULT_NPI_API_URL = "https://npiregistry.cms.hhs.gov/api/"
# CMS "PFS Relative Value Files": links every quarterly RVU release zip (the physician fee schedule).
DEFAULT_PFS_INDEX_URL = "https://www.cms.gov/medicare/payment/fee-schedules/physician/pfs-relative-value-files"
# NUCC's page linking every nucc_taxonomy_<version>.csv (the provider taxonomy code set).
DEFAULT_NUCC_PAGE_URL = (
    "https://www.nucc.org/index.php/code-sets-mainmenu-41/provider-taxonomy-mainmenu-40/csv-mainmenu-57"
)
DEFAULT_HCPCS_API_URL = "https://clinicaltables.nlm.nih.gov/api/hcpcs/v3/search"
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
# CMS synthetic Medicare release (data.cms.gov, 2023): the three downloads of the dataset page.
DEFAULT_SYNTHETIC_MEDICARE_BENEFICIARY_URL = "https://data.cms.gov/sites/default/files/2023-04/250e6ca0-3515-4767-957c-5528bfcee75c/All%20Beneficiary%20Years.zip"
DEFAULT_SYNTHETIC_MEDICARE_CLAIMS_URL = (
    "https://data.cms.gov/sites/default/files/2023-04/f67c2406-4413-4ace-817d-b170cbdd0a3e/All%20FFS%20Claims.zip"
)
DEFAULT_SYNTHETIC_MEDICARE_PDE_URL = (
    "https://data.cms.gov/sites/default/files/2023-04/a3969dcf-0799-49fe-8380-9eef788d5ac4/pde.csv"
)
DEFAULT_OPPS_ADDENDA_URL = "https://www.cms.gov/medicare/payment/prospective-payment-systems/hospital-outpatient-pps/addendum-and-addendum-b-updates"
DEFAULT_ASC_ADDENDA_URL = "https://www.cms.gov/medicare/payment/prospective-payment-systems/ambulatory-surgical-center-asc/asc-payment-rates-addenda"
# Secrets: read here like every other variable, but never shown (Settings repr), logged, or put in run config;
# resources receive them as dg.EnvVar(<name>), which Dagster resolves at run time and displays by name only.
HF_TOKEN_VAR = "HF_TOKEN"
WAREHOUSE_CATALOG_PASSWORD_VAR = "MEDICAID_WAREHOUSE_CATALOG_PASSWORD"
RESDAC_POSTGRES_PASSWORD_VAR = "MEDICAID_RESDAC_POSTGRES_PASSWORD"
ICEBERG_CATALOG_PASSWORD_VAR = "MEDICAID_ICEBERG_CATALOG_PASSWORD"
SECRET_VARS = frozenset(
    {HF_TOKEN_VAR, WAREHOUSE_CATALOG_PASSWORD_VAR, RESDAC_POSTGRES_PASSWORD_VAR, ICEBERG_CATALOG_PASSWORD_VAR}
)

# Environment variable -> (Settings field, what it means). The README's table is generated from this.
ENV_VARS: dict[str, tuple[str, str]] = {
    "MEDICAID_DATA_DIR": ("data_dir", "root of raw files, caches, mappings and outputs (default `./data`)"),
    "MEDICAID_WAREHOUSE_PATH": ("warehouse_path", "DuckDB warehouse file (default `<data dir>/warehouse.duckdb`)"),
    "MEDICAID_SPENDING_URL": ("spending_url", "HHS Medicaid Provider Spending file (`.parquet`, `.zip` or `.gz`)"),
    "MEDICAID_NPPES_FILES_PAGE_URL": ("nppes_files_page_url", "CMS NPPES files page listing monthly and weekly zips"),
    "MEDICAID_NPPES_MONTHLY_URL": (
        "nppes_monthly_url",
        "pin one monthly V2 zip instead of the newest on the files page",
    ),
    "MEDICAID_NPPES_WEEKLY_URL": ("nppes_weekly_url", "pin one weekly V2 zip instead of discovering weeklies"),
    "MEDICAID_CPT_INDEX_URL": ("cpt_index_url", "CMS PFS page linking the CPT/HCPCS fee-schedule zip"),
    "MEDICAID_PFS_INDEX_URL": (
        "pfs_index_url",
        "CMS PFS Relative Value Files page; every RVU release zip it links becomes a partition of `raw/pfs_release`",
    ),
    "MEDICAID_NUCC_PAGE_URL": (
        "nucc_page_url",
        "NUCC CSV page; the newest `nucc_taxonomy_<version>.csv` it links is the taxonomy code set",
    ),
    "MEDICAID_NPI_API_URL": ("npi_api_url", "NPPES NPI Registry API base URL (version 2.1)"),
    "MEDICAID_HCPCS_API_URL": ("hcpcs_api_url", "NLM Clinical Tables HCPCS v3 search URL"),
    "MEDICAID_CPT_ZIP_URLS": (
        "cpt_zip_urls",
        "comma-separated CPT/HCPCS zip URLs; empty = auto-discover from the index page when no local CPT data",
    ),
    "MEDICAID_OVERLAYS_DIR": (
        "overlays_dir",
        "version-controlled overlays copied into the extracted CMS tree (default `data/manually_cleaned` of the project)",
    ),
    "MEDICAID_MAX_EXTRACT_BYTES": (
        "max_extract_bytes",
        "refuse zips that expand past this many bytes (default 64 GiB)",
    ),
    "MEDICAID_OBJECT_STORE_URL": (
        "object_store_url",
        "`s3://bucket/prefix`: mirror raw files, caches and outputs there (system of record) and restore them "
        "on a fresh machine; unset = local files only",
    ),
    "MEDICAID_S3_ENDPOINT_URL": (
        "s3_endpoint_url",
        "S3-compatible endpoint (MinIO, Ceph, R2, …); unset = AWS S3. Credentials: the standard AWS variables "
        "or profile, read by boto3 itself",
    ),
    "MEDICAID_S3_REGION": ("s3_region", "region of the bucket (default: boto3's own, e.g. `AWS_REGION`)"),
    "MEDICAID_HF_REPO_ID": ("hf_repo_id", "Hugging Face dataset repo the `publish` job uploads to (`owner/name`)"),
    "MEDICAID_HF_ENDPOINT": ("hf_endpoint", "Hugging Face Hub URL (default `https://huggingface.co`)"),
    HF_TOKEN_VAR: (
        "hf_token",
        "Hugging Face write token for `publish` (secret: never logged, shown or put in run config)",
    ),
    "MEDICAID_IO_MANAGER": (
        "io_manager",
        "where values passed between assets are persisted: `parquet` (files under `MEDICAID_IO_MANAGER_BASE`; "
        "readers never hold the DuckDB file) or `duckdb` (a table per asset in the warehouse file, schema = key "
        "prefix); default `parquet`",
    ),
    "MEDICAID_IO_MANAGER_BASE": (
        "io_manager_base",
        "base of the parquet IO manager: a directory or `s3://bucket/prefix` (default `<data dir>/assets`)",
    ),
    # The scale-out warehouse (DuckLake, docs/decisions/0002-scale-out-warehouse.md); unset = the DuckDB file.
    "MEDICAID_WAREHOUSE_CATALOG_URL": (
        "warehouse_catalog_url",
        "`postgresql://user@host:port/dbname` (no password): DuckLake catalog of a warehouse many machines' runs "
        "write at once; unset = the embedded DuckDB file",
    ),
    "MEDICAID_WAREHOUSE_DATA_URL": (
        "warehouse_data_url",
        "`s3://bucket/prefix/`: the DuckLake's parquet data (endpoint and region: `MEDICAID_S3_*`; keys: the "
        "standard AWS variables)",
    ),
    WAREHOUSE_CATALOG_PASSWORD_VAR: (
        "warehouse_catalog_password",
        "password of the DuckLake catalog's PostgreSQL user (secret; unset = libpq's `PGPASSWORD` or `~/.pgpass`)",
    ),
    # ResDAC Medicare (defs/resdac_medicare): the delivery on disk, and the optional PostgreSQL target.
    "MEDICAID_RESDAC_INPUT_DIR": (
        "resdac_input_dir",
        "folder of the ResDAC delivery (FTS + `.dat` pairs, SAS files; any depth) (default `<data dir>/raw/resdac`)",
    ),
    "MEDICAID_RESDAC_POSTGRES_URL": (
        "resdac_postgres_url",
        "`postgresql://user@host:port/dbname` (no password): export the ResDAC Medicare tables there; unset = "
        "DuckDB only",
    ),
    RESDAC_POSTGRES_PASSWORD_VAR: (
        "resdac_postgres_password",
        "password of that PostgreSQL user (secret; unset = libpq's `PGPASSWORD` or `~/.pgpass`)",
    ),
    "MEDICAID_RESDAC_READ_ROLE": (
        "resdac_read_role",
        "PostgreSQL role granted `SELECT` on every exported ResDAC Medicare table (the original's grant step)",
    ),
    "MEDICAID_SYNTHETIC_MEDICARE_BENEFICIARY_URL": (
        "synthetic_medicare_beneficiary_url",
        "CMS synthetic Medicare release: `All Beneficiary Years.zip` (pipe-delimited `beneficiary_YYYY.csv` files)",
    ),
    "MEDICAID_SYNTHETIC_MEDICARE_CLAIMS_URL": (
        "synthetic_medicare_claims_url",
        "CMS synthetic Medicare release: `All FFS Claims.zip` (the seven claim-type files)",
    ),
    "MEDICAID_SYNTHETIC_MEDICARE_PDE_URL": (
        "synthetic_medicare_pde_url",
        "CMS synthetic Medicare release: `pde.csv` (Part D events)",
    ),
    # Price transparency (defs/price_transparency)
    "MEDICAID_PT_CATALOG": (
        "pt_catalog",
        "payer catalog YAML for price transparency (payer → ToC URL, handler, whitelist; default the repo's "
        "`defs/price_transparency/payers.yaml`)",
    ),
    "MEDICAID_PT_ALLOW_PRIVATE_URLS": (
        "pt_allow_private_urls",
        "`1`: let ToCs and reference files point at private/loopback addresses (the sample world only; default `0`)",
    ),
    # Rates warehouse: fee-schedule sources and the Iceberg tables (docs/decisions/0007-iceberg-for-rates-warehouse.md).
    "MEDICAID_OPPS_ADDENDA_URL": ("opps_addenda_url", "CMS page listing the quarterly OPPS Addendum A and B zips"),
    "MEDICAID_ASC_ADDENDA_URL": ("asc_addenda_url", "CMS page listing the quarterly ASC Addendum AA zips"),
    "MEDICAID_WC_FEE_SCHEDULE_URLS": (
        "wc_fee_schedule_urls",
        "workers'-comp fee-schedule files, `STATE=url` comma-separated (GA: the SBWC workbook `.xlsx`; NC: the IC "
        "schedule `.csv`); unset = no state schedule is downloaded",
    ),
    "MEDICAID_ICEBERG_CATALOG_URI": (
        "iceberg_catalog_uri",
        "SQLAlchemy URL of the Iceberg SQL catalog (no password), e.g. `postgresql+psycopg2://user@host/db` "
        "(default: SQLite `<data dir>/iceberg/catalog.db`)",
    ),
    "MEDICAID_ICEBERG_WAREHOUSE": (
        "iceberg_warehouse",
        "Iceberg data and metadata: a directory or `s3://bucket/prefix` (endpoint/region: `MEDICAID_S3_*`; keys: the "
        "standard AWS variables; default `<data dir>/iceberg/warehouse`)",
    ),
    ICEBERG_CATALOG_PASSWORD_VAR: (
        "iceberg_catalog_password",
        "password of the Iceberg catalog's database user (secret)",
    ),
    "MEDICAID_RATES_TILES_URL": (
        "rates_tiles_url",
        "where the rates warehouse writes its Hive-partitioned parquet tiles: a directory or `s3://bucket/prefix` "
        "(endpoint/region: `MEDICAID_S3_*`; keys: the standard AWS variables; default `<data dir>/tiles`)",
    ),
}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one process."""

    data_dir: Path
    warehouse_path: Path
    spending_url: str = DEFAULT_SPENDING_URL
    nppes_files_page_url: str = DEFAULT_NPPES_FILES_PAGE_URL
    cpt_index_url: str = DEFAULT_CPT_INDEX_URL
    pfs_index_url: str = DEFAULT_PFS_INDEX_URL
    nucc_page_url: str = DEFAULT_NUCC_PAGE_URL
    nppes_monthly_url: str | None = None
    nppes_weekly_url: str | None = None
    npi_api_url: str = DEFAULT_NPI_API_URL
    hcpcs_api_url: str = DEFAULT_HCPCS_API_URL
    cpt_zip_urls: tuple[str, ...] = ()
    overlays_dir: Path = PROJECT_ROOT / "data" / "manually_cleaned"
    max_extract_bytes: int = 64 * 1024**3
    object_store_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    hf_repo_id: str | None = None
    hf_endpoint: str = DEFAULT_HF_ENDPOINT
    hf_token: str | None = dataclass_field(default=None, repr=False)
    io_manager: str = "parquet"
    io_manager_base: str | None = None
    warehouse_catalog_url: str | None = None
    warehouse_data_url: str | None = None
    warehouse_catalog_password: str | None = dataclass_field(default=None, repr=False)
    resdac_input_dir: str | None = None
    resdac_postgres_url: str | None = None
    resdac_postgres_password: str | None = dataclass_field(default=None, repr=False)
    resdac_read_role: str | None = None
    synthetic_medicare_beneficiary_url: str = DEFAULT_SYNTHETIC_MEDICARE_BENEFICIARY_URL
    synthetic_medicare_claims_url: str = DEFAULT_SYNTHETIC_MEDICARE_CLAIMS_URL
    synthetic_medicare_pde_url: str = DEFAULT_SYNTHETIC_MEDICARE_PDE_URL
    pt_catalog: Path | None = None
    pt_allow_private_urls: bool = False
    opps_addenda_url: str = DEFAULT_OPPS_ADDENDA_URL
    asc_addenda_url: str = DEFAULT_ASC_ADDENDA_URL
    wc_fee_schedule_urls: tuple[str, ...] = ()
    iceberg_catalog_uri: str | None = None
    iceberg_warehouse: str | None = None
    iceberg_catalog_password: str | None = dataclass_field(default=None, repr=False)
    rates_tiles_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (the process environment by default)."""
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for var, (field, _) in ENV_VARS.items():
            raw = env.get(var, "").strip()
            if raw:
                values[field] = raw
        data_dir = Path(values.pop("data_dir", PROJECT_ROOT / "data")).expanduser().resolve()
        warehouse = values.pop("warehouse_path", None)
        warehouse_path = Path(warehouse).expanduser().resolve() if warehouse else data_dir / "warehouse.duckdb"
        if "cpt_zip_urls" in values:
            values["cpt_zip_urls"] = tuple(u.strip() for u in values["cpt_zip_urls"].split(",") if u.strip())
        if "wc_fee_schedule_urls" in values:
            values["wc_fee_schedule_urls"] = tuple(
                u.strip() for u in values["wc_fee_schedule_urls"].split(",") if u.strip()
            )
        if "overlays_dir" in values:
            values["overlays_dir"] = Path(values["overlays_dir"]).expanduser().resolve()
        if "max_extract_bytes" in values:
            values["max_extract_bytes"] = int(values["max_extract_bytes"])
        if "pt_catalog" in values:
            values["pt_catalog"] = Path(values["pt_catalog"]).expanduser().resolve()
        if "pt_allow_private_urls" in values:
            values["pt_allow_private_urls"] = values["pt_allow_private_urls"].lower() in ("1", "true", "yes")
        known = {f.name for f in fields(cls)}
        return cls(data_dir=data_dir, warehouse_path=warehouse_path, **{k: v for k, v in values.items() if k in known})

    def env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in another process."""

        def text(value: object) -> str:
            if value is None:
                return ""
            return ",".join(value) if isinstance(value, tuple) else str(value)

        return {var: text(getattr(self, field)) for var, (field, _) in ENV_VARS.items()}


def export_hf_token(token: str) -> None:
    """Make a token given on the command line visible to ``dg.EnvVar(HF_TOKEN)`` in this process (never to config)."""
    os.environ[HF_TOKEN_VAR] = token


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus ``extra``, for a child process (e.g. the Dagster UI)."""
    return {**os.environ, **extra}

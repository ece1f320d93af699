"""Where the sample world serves each real endpoint.

The local server mirrors every real URL under a folder named after its host:
``https://host/path?q`` is served at ``http://127.0.0.1:PORT/host/path?q``. So a real URL maps to its
local twin with one rule, and the world's files sit on disk under ``files/<host>/<path>``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from medicaid_assets.sample_world.price_transparency import world_catalog
from medicaid_assets.settings import (
    DEFAULT_ASC_ADDENDA_URL,
    DEFAULT_CPT_INDEX_URL,
    DEFAULT_HCPCS_API_URL,
    DEFAULT_NPI_API_URL,
    DEFAULT_NPPES_FILES_PAGE_URL,
    DEFAULT_NUCC_PAGE_URL,
    DEFAULT_OPPS_ADDENDA_URL,
    DEFAULT_PFS_INDEX_URL,
    DEFAULT_SPENDING_URL,
    DEFAULT_SYNTHETIC_MEDICARE_BENEFICIARY_URL,
    DEFAULT_SYNTHETIC_MEDICARE_CLAIMS_URL,
    DEFAULT_SYNTHETIC_MEDICARE_PDE_URL,
    ENV_VARS,
    Settings,
)

NPI_API_HOST = urlsplit(DEFAULT_NPI_API_URL).netloc
HCPCS_API_HOST = urlsplit(DEFAULT_HCPCS_API_URL).netloc
CMS_HOST = "www.cms.gov"
NPPES_HOST = urlsplit(DEFAULT_NPPES_FILES_PAGE_URL).netloc
SPENDING_HOST = urlsplit(DEFAULT_SPENDING_URL).netloc

# Later release of the spending file, with the renamed columns and YYYY-MM months.
SPENDING_V2_URL = (
    "https://stopendataprod.blob.core.windows.net/datasets/medicaid-provider-spending/"
    "2026-06-01/medicaid-provider-spending.parquet"
)

# Workers'-comp schedules: states post them on their own sites and the pipeline is told where (no discovery); the
# world serves the two sample states at these stand-in addresses.
WC_URLS = {
    "GA": "https://sbwc.georgia.gov/sites/sbwc.georgia.gov/files/fee-schedule/2024-ga-fee-schedule.xlsx",
    "NC": "https://www.ic.nc.gov/fee-schedule/2025-nc-professional-fee-schedule.csv",
}


def local_url(base_url: str, real_url: str) -> str:
    """The sample-world twin of ``real_url`` on a server at ``base_url`` (``http://127.0.0.1:PORT``)."""
    parts = urlsplit(real_url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{base_url.rstrip('/')}/{parts.netloc}{parts.path}{query}"


def disk_path(real_url: str) -> PurePosixPath:
    """Where the world keeps the file behind ``real_url``, relative to its ``files/`` folder."""
    parts = urlsplit(real_url)
    return PurePosixPath(parts.netloc) / parts.path.lstrip("/")


def world_env(base_url: str, world_dir: Path | None = None) -> dict[str, str]:
    """``MEDICAID_*`` URL variables that point the pipeline at a sample-world server.

    With ``world_dir`` (the served world's folder) also the price-transparency payer catalog: the payers' ToC URLs
    are the server's, so the catalog is written for this server (``<world_dir>/payers-<port>.yaml``), and loopback
    addresses are allowed for its files."""
    env = {
        "MEDICAID_SPENDING_URL": local_url(base_url, DEFAULT_SPENDING_URL),
        "MEDICAID_NPPES_FILES_PAGE_URL": local_url(base_url, DEFAULT_NPPES_FILES_PAGE_URL),
        "MEDICAID_CPT_INDEX_URL": local_url(base_url, DEFAULT_CPT_INDEX_URL),
        "MEDICAID_NPI_API_URL": local_url(base_url, DEFAULT_NPI_API_URL),
        "MEDICAID_HCPCS_API_URL": local_url(base_url, DEFAULT_HCPCS_API_URL),
        "MEDICAID_PFS_INDEX_URL": local_url(base_url, DEFAULT_PFS_INDEX_URL),
        "MEDICAID_NUCC_PAGE_URL": local_url(base_url, DEFAULT_NUCC_PAGE_URL),
        "MEDICAID_SYNTHETIC_MEDICARE_BENEFICIARY_URL": local_url(base_url, DEFAULT_SYNTHETIC_MEDICARE_BENEFICIARY_URL),
        "MEDICAID_SYNTHETIC_MEDICARE_CLAIMS_URL": local_url(base_url, DEFAULT_SYNTHETIC_MEDICARE_CLAIMS_URL),
        "MEDICAID_SYNTHETIC_MEDICARE_PDE_URL": local_url(base_url, DEFAULT_SYNTHETIC_MEDICARE_PDE_URL),
        "MEDICAID_OPPS_ADDENDA_URL": local_url(base_url, DEFAULT_OPPS_ADDENDA_URL),
        "MEDICAID_ASC_ADDENDA_URL": local_url(base_url, DEFAULT_ASC_ADDENDA_URL),
        "MEDICAID_WC_FEE_SCHEDULE_URLS": ",".join(f"{s}={local_url(base_url, u)}" for s, u in WC_URLS.items()),
    }
    if world_dir is not None:
        catalog = world_catalog(base_url, Path(world_dir) / f"payers-{urlsplit(base_url).port}.yaml")
        env |= {"MEDICAID_PT_CATALOG": str(catalog), "MEDICAID_PT_ALLOW_PRIVATE_URLS": "1"}
    return env


def settings_for_world(settings: Settings, base_url: str, world_dir: Path | None = None) -> Settings:
    """``settings`` with every source URL pointed at a sample-world server (and, with ``world_dir``, the payer
    catalog of that world: see :func:`world_env`)."""
    overrides: dict[str, object] = {ENV_VARS[var][0]: value for var, value in world_env(base_url, world_dir).items()}
    overrides["wc_fee_schedule_urls"] = tuple(str(overrides["wc_fee_schedule_urls"]).split(","))
    if "pt_catalog" in overrides:
        overrides |= {"pt_catalog": Path(str(overrides["pt_catalog"])), "pt_allow_private_urls": True}
    return dataclasses.replace(settings, **overrides)

"""Where data lives: the data directory and the source URLs the run uses."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from medicaid_assets.layout import DataLayout
from medicaid_assets.settings import DEFAULT_NUCC_PAGE_URL, DEFAULT_PFS_INDEX_URL


class DataDirResource(dg.ConfigurableResource):
    """Root of raw files, caches, mappings and outputs (``MEDICAID_DATA_DIR``)."""

    data_dir: str
    overlays_dir: str
    max_extract_bytes: int = 64 * 1024**3
    fallback_csv: str | None = None  # read the CPT/HCPCS fallback from here instead of raw/cpt/

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir), Path(self.fallback_csv) if self.fallback_csv else None)


class SourcesResource(dg.ConfigurableResource):
    """Source URLs; each defaults to the real public endpoint (see settings.py)."""

    spending_url: str
    nppes_files_page_url: str
    nppes_monthly_url: str | None = None
    nppes_weekly_url: str | None = None
    cpt_index_url: str
    cpt_zip_urls: list[str] = Field(default_factory=list)
    pfs_index_url: str = DEFAULT_PFS_INDEX_URL
    nucc_page_url: str = DEFAULT_NUCC_PAGE_URL
    opps_addenda_url: str = ""  # CMS pages listing the quarterly OPPS / ASC addenda zips
    asc_addenda_url: str = ""
    wc_fee_schedule_urls: list[str] = Field(default_factory=list)  # "STATE=url" per workers'-comp schedule

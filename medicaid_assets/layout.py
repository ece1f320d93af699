"""Where every file lives under the data directory (the original tool's contract, section 2).

Like settings.py this is configuration, read by every layer; a family that adds files adds its own folder here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataLayout:
    root: Path
    fallback_csv: Path | None = None  # the CLI's --hcpcs-fallback-csv

    @property
    def raw_medicaid(self) -> Path:
        return self.root / "raw" / "medicaid"

    @property
    def nppes_monthly(self) -> Path:
        return self.root / "raw" / "nppes" / "monthly"

    @property
    def nppes_weekly(self) -> Path:
        return self.root / "raw" / "nppes" / "weekly"

    @property
    def raw_price_transparency(self) -> Path:
        """Downloaded in-network files, one folder per payer (named by file partition)."""
        return self.root / "raw" / "price_transparency"

    @property
    def price_transparency_staging(self) -> Path:
        """Parquet parts of the in-network file being read (one folder per file partition; never read after a kill)."""
        return self.root / "price_transparency" / "staging"

    @property
    def cpt_root(self) -> Path:
        return self.root / "raw" / "cpt"

    @property
    def cpt_archives(self) -> Path:
        return self.cpt_root / "archives"

    @property
    def cpt_fallback(self) -> Path:
        return self.fallback_csv or self.cpt_root / "cpt_hcpcs_fallback.csv"

    @property
    def raw_resdac(self) -> Path:
        """The ResDAC delivery, when ``MEDICAID_RESDAC_INPUT_DIR`` does not name another folder."""
        return self.root / "raw" / "resdac"

    @property
    def resdac_staging(self) -> Path:
        """Parquet slices of `.dat` and SAS files on their way into DuckDB (removed after each load)."""
        return self.root / "tmp" / "resdac"

    @property
    def nucc(self) -> Path:
        """The NUCC taxonomy CSVs as downloaded."""
        return self.root / "raw" / "nucc"

    @property
    def pfs_releases(self) -> Path:
        """One folder per physician fee schedule release (``<release>/``: the zip and its extraction)."""
        return self.root / "raw" / "pfs"

    @property
    def fee_schedules(self) -> Path:
        """Downloaded fee-schedule releases: ``opps/<release>/``, ``asc/<release>/``, ``workers_comp/<state>/``."""
        return self.root / "raw" / "fee_schedules"

    @property
    def duckdb_temp(self) -> Path:
        """Where DuckDB spills when a load passes its memory limit."""
        return self.root / "tmp" / "duckdb"

    @property
    def assets(self) -> Path:
        """Values passed between assets, stored by the parquet IO manager (its default base; decision 0001)."""
        return self.root / "assets"

    @property
    def npi_cache(self) -> Path:
        return self.root / "cache" / "npi" / "npi_provider_cache.sqlite"

    @property
    def hcpcs_cache(self) -> Path:
        return self.root / "cache" / "hcpcs" / "hcpcs_code_cache.sqlite"

    @property
    def npi_mapping(self) -> Path:
        return self.root / "mappings" / "npi" / "npi_provider_mapping.csv"

    @property
    def hcpcs_mapping(self) -> Path:
        return self.root / "mappings" / "hcpcs" / "hcpcs_code_mapping.csv"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def npi_dataset(self) -> Path:
        return self.output / "npi.parquet"

    @property
    def hcpcs_dataset(self) -> Path:
        return self.output / "hcpcs.parquet"

    @property
    def triage(self) -> Path:
        return self.output / "triage"

    @property
    def unresolved_report(self) -> Path:
        return self.root / "unresolved_identifiers.csv"

    @property
    def synthetic_medicare_raw(self) -> Path:
        """The synthetic Medicare release's downloads, and each zip extracted beside it."""
        return self.root / "raw" / "synthetic_medicare"

    @property
    def synthetic_medicare_landed(self) -> Path:
        """Its files as parquet: ``<type>/year=YYYY/part_0.parquet`` (what the dbt models read)."""
        return self.root / "landed" / "synthetic_medicare"

    @property
    def synthetic_medicare_dbt(self) -> Path:
        """dbt's run artifacts for the family (target folders, logs); the project itself is in the package."""
        return self.root / "dbt" / "synthetic_medicare"

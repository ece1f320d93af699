"""Where every file of the pipeline lives under the data directory (the contract's section 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class DataLayout:
    root: Path

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
    def cpt_root(self) -> Path:
        return self.root / "raw" / "cpt"

    @property
    def cpt_archives(self) -> Path:
        return self.cpt_root / "archives"

    @property
    def cpt_fallback(self) -> Path:
        return self.cpt_root / "cpt_hcpcs_fallback.csv"

    @property
    def duckdb_temp(self) -> Path:
        """Where DuckDB spills when a load passes its memory limit."""
        return self.root / "tmp" / "duckdb"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def mappings(self) -> Path:
        return self.root / "mappings"

    @property
    def output(self) -> Path:
        return self.root / "output"


def file_name_from_url(url: str) -> str:
    """Last path component of ``url`` (what a download is saved as); refuses URLs without one."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"cannot derive a file name from URL {url!r}")
    return name

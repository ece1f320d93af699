"""Tables of contents: the in-network files a payer lists (v1 and v2 shapes, plans per file)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import msgspec

from medicaid_assets.defs.price_transparency.catalog import file_key, url_key
from medicaid_assets.defs.price_transparency.model import TableOfContents
from medicaid_assets.defs.price_transparency.normalize import parse_date

_TOC = msgspec.json.Decoder(TableOfContents)


class TocError(ValueError):
    """Not a table of contents; the message names the payer and what was wrong."""


@dataclass(frozen=True)
class ListedFile:
    url_key: str  # the file whatever its content (catalog.url_key)
    url: str
    description: str
    plans: int
    plan_names: str
    version: str = ""  # its content as the server states it (versions.version_of); "" until asked

    @property
    def file_key(self) -> str:
        """The file partition of this content of the file."""
        return file_key(self.url_key, self.version)

    def with_version(self, version: str) -> ListedFile:
        return replace(self, version=version)


def toc_month(toc: TableOfContents, fetched_on: date) -> str:
    """The month (``YYYY-MM``) a ToC was published for: its ``last_updated_on`` (v2, any format payers write),
    else the month it was fetched (v1 ToCs carry no date)."""
    return (parse_date(toc.last_updated_on) or fetched_on).strftime("%Y-%m")


def parse_toc(payer: str, data: bytes) -> tuple[TableOfContents, list[ListedFile]]:
    """The ToC and its distinct in-network files in listing order (a file listed for many plans appears once)."""
    try:
        toc = _TOC.decode(data)
    except msgspec.DecodeError as exc:
        preview = data[:80].decode("utf-8", "replace")
        raise TocError(f"payer {payer}: the table of contents is not valid ({exc}); it starts {preview!r}") from None
    if toc.reporting_structure is None:
        raise TocError(f"payer {payer}: the table of contents has no reporting_structure")
    files: dict[str, ListedFile] = {}
    for structure in toc.reporting_structure:
        plans = structure.reporting_plans or []
        for listed in structure.in_network_files or []:
            if not listed.location:
                continue
            key = url_key(payer, listed.location)
            before = files.get(key)
            names = sorted({p.plan_name or "" for p in plans} | set(before.plan_names.split("; ") if before else []))
            files[key] = ListedFile(
                key,
                listed.location,
                listed.description or "",
                (before.plans if before else 0) + len(plans),
                "; ".join(n for n in names if n)[:2000],
            )
    return toc, list(files.values())

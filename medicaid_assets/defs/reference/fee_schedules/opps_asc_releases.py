"""Quarterly OPPS and ASC releases as their CMS pages list them (pure: HTML in, release keys and URLs out).

CMS names each quarter's zip after its month (``january-2025-addendum-b.zip``, "October 2025 ASC Approved HCPCS
Code and Payment Rates (ZIP)"); the month and year in a link's address or text make its release key (``2025Q1``
for January, ``2025Q4`` for October). A release is listed once every kind of file it needs is linked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from medicaid_assets.defs.reference.fee_schedules.opps_asc_cells import MONTHS, release_of

_MONTH_YEAR = re.compile(r"(" + "|".join(MONTHS) + r")[\s_-]*(\d{4})", re.IGNORECASE)
RELEASE_KEY = re.compile(r"^\d{4}Q[1-4]$")


class _Links(HTMLParser):
    """``(href, link text)`` of every ``<a>``, in page order."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = next((v.strip() for k, v in attrs if k == "href" and v), None)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None


def release_links(html: str, page_url: str, kinds: Mapping[str, re.Pattern[str]]) -> dict[str, dict[str, str]]:
    """Release key → {kind: absolute zip URL} for every release whose zips of all ``kinds`` the page links.

    ``kinds`` tells the files apart by a pattern matched on the link's address and text (e.g. ``addendum[\\s_-]*b``).
    Of two links of one kind and release, the first on the page wins.
    """
    parser = _Links()
    parser.feed(html)
    parser.close()
    found: dict[str, dict[str, str]] = {}
    for href, text in parser.links:
        if not urlsplit(href).path.lower().endswith(".zip"):
            continue
        label = f"{href} {text}"
        month = _MONTH_YEAR.search(label)
        kind = next((k for k, pattern in kinds.items() if pattern.search(label)), None)
        if month is None or kind is None:
            continue
        release = release_of(f"{month.group(1)} {month.group(2)}")
        found.setdefault(str(release), {}).setdefault(kind, urljoin(page_url, href))
    return {r: links for r, links in sorted(found.items()) if set(links) == set(kinds)}

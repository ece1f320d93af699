"""Find the fee-schedule zip on a CMS index page (the original's auto-discovery rule, made testable).

Among the page's links ending in ``.zip`` (query and fragment ignored, case-insensitive), each scores,
on the link as written in the page, +10 when it contains ``pfrev`` (the payment-amount release), +2 for
``updated`` (CMS re-posts a corrected zip beside the first one) and +1 for ``/files/zip/`` (where CMS
keeps downloads); the highest score wins and, on a tie, the link that comes first on the page. The
winner resolves against the page URL, as a browser would.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

SCORES = (("pfrev", 10), ("updated", 2), ("/files/zip/", 1))


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value.strip() for name, value in attrs if name == "href" and value)


def page_hrefs(html: str) -> list[str]:
    """Every link of the page as written, in page order."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.hrefs


def zip_hrefs(html: str) -> list[str]:
    """The page's ``.zip`` links as written, in page order, without duplicates."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return list(dict.fromkeys(h for h in parser.hrefs if urlsplit(h).path.lower().endswith(".zip")))


def score(href: str) -> int:
    low = href.lower()
    return sum(points for needle, points in SCORES if needle in low)


def pick_zip_url(html: str, page_url: str) -> str | None:
    """The absolute URL of the best-scoring zip link of the page, or None when it links no zip."""
    hrefs = zip_hrefs(html)
    return urljoin(page_url, max(hrefs, key=score)) if hrefs else None

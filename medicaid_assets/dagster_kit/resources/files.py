"""HTTP access to the public files (spending parquet, NPPES bundles, CMS archives).

Every family downloads and lists pages through this resource, so each download is resumable, validated, atomic
and retried by the one policy (core/retry), with progress lines in the run's log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import httpx

from medicaid_assets.core.download import DownloadResult, Validator, download, get_page
from medicaid_assets.dagster_kit.progress import ProgressLogger

USER_AGENT = "medicaid-assets/0.1 (+https://github.com/; public-data pipeline)"


class HttpFilesResource(dg.ConfigurableResource):
    """Downloads and page listings. Timeouts and attempts are configurable per run."""

    connect_timeout_seconds: float = 30.0
    read_timeout_seconds: float = 120.0
    attempts: int = 5
    backoff_seconds: float = 1.0

    @contextmanager
    def client(self, guard: Callable[[str], None] | None = None) -> Iterator[httpx.Client]:
        """A client that follows redirects; ``guard(url)`` runs before every request, redirects included, and
        raises to refuse one (third parties' URLs: see price_transparency/safety.py)."""
        timeout = httpx.Timeout(self.read_timeout_seconds, connect=self.connect_timeout_seconds)
        hooks = {"request": [lambda request: guard(str(request.url))]} if guard is not None else {}
        with httpx.Client(
            timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT}, event_hooks=hooks
        ) as client:
            yield client

    def download(
        self,
        url: str,
        dest: Path,
        *,
        log: dg.DagsterLogManager | logging.Logger | None = None,
        validate: Validator | None = None,
        allow_html: bool = False,
        guard: Callable[[str], None] | None = None,
    ) -> DownloadResult:
        """Make ``dest`` a complete, validated copy of ``url`` (core/download), reusing a good one; progress
        lines go to ``log``; ``guard`` vets every URL requested (see :meth:`client`)."""
        with self.client(guard) as client:
            return download(
                client,
                url,
                dest,
                validate=validate,
                progress=ProgressLogger(log, dest.name) if log is not None else None,
                allow_html=allow_html,
                attempts=self.attempts,
                backoff_seconds=self.backoff_seconds,
            )

    def get_page(self, url: str, *, attempts: int | None = None, timeout: float | None = None) -> httpx.Response:
        """GET a small page (a listing, an index), retried like a download (``attempts`` defaults to the
        resource's); the caller judges the status. Raises the last transport error."""
        with self.client() as client:
            return get_page(
                client,
                url,
                attempts=self.attempts if attempts is None else attempts,
                backoff_seconds=self.backoff_seconds,
                timeout=timeout,
            )

    def get_page_ok(
        self, url: str, what: str, *, hint: str = "", attempts: int | None = None, timeout: float | None = None
    ) -> httpx.Response:
        """:meth:`get_page` for a step: a transport error or a status other than 200 fails it, naming ``what`` and
        the page (``hint`` appended: what the user can do instead)."""
        try:
            page = self.get_page(url, attempts=attempts, timeout=timeout)
        except httpx.HTTPError as exc:
            raise dg.Failure(f"{what} {url}: {type(exc).__name__}: {exc}{hint}") from exc
        if page.status_code != 200:
            raise dg.Failure(f"{what} {url}: HTTP {page.status_code}{hint}")
        return page

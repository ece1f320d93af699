"""HTTP access to the public files (spending parquet, NPPES bundles, CMS archives)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import httpx

USER_AGENT = "medicaid-assets/0.1 (+https://github.com/; public-data pipeline)"


class HttpFilesResource(dg.ConfigurableResource):
    """Downloads and page listings. Timeouts and attempts are configurable per run."""

    connect_timeout_seconds: float = 30.0
    read_timeout_seconds: float = 120.0
    attempts: int = 5
    backoff_seconds: float = 1.0

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        timeout = httpx.Timeout(self.read_timeout_seconds, connect=self.connect_timeout_seconds)
        with httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT}) as client:
            yield client

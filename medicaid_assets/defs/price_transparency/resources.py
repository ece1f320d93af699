"""The payers' hosts: catalog, tables of contents and remote reference files, fetched under the URL-safety rules."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import httpx

from medicaid_assets.defs.price_transparency.catalog import DEFAULT_CATALOG, Payer, load_catalog
from medicaid_assets.defs.price_transparency.containers import Limits
from medicaid_assets.defs.price_transparency.safety import check_url, fetch_bytes
from medicaid_assets.defs.price_transparency.toc import ListedFile
from medicaid_assets.defs.price_transparency.versions import probe_version, probe_versions


class PriceTransparencyResource(dg.ConfigurableResource):
    """Where the payer catalog is and how far third-party URLs are trusted.

    ``allow_private_urls`` lets loopback and private addresses through (the sample world on 127.0.0.1); never set
    it for payers on the internet. ``workers``: processes one large plain-JSON in-network file is split over
    (``parallel.py``; files under ``split_min_bytes`` stream in the step's own process, whose threads already keep
    two cores busy: below ~2 GB a worker's start and its share of fixed costs outweigh what it adds,
    docs/performance.md).
    """

    catalog_path: str = str(DEFAULT_CATALOG)
    allow_private_urls: bool = False
    timeout_seconds: float = 60.0
    max_toc_bytes: int = 512 << 20
    max_reference_bytes: int = 64 << 20
    reference_concurrency: int = 8
    max_json_bytes: int = 200 << 30
    max_ratio: float = 200.0
    workers: int = 2
    split_min_bytes: int = 2 << 30

    def payers(self) -> dict[str, Payer]:
        return load_catalog(Path(self.catalog_path))

    def payer(self, name: str) -> Payer:
        payers = self.payers()
        if name not in payers:
            raise dg.Failure(f"payer {name!r} is not in the catalog {self.catalog_path} (known: {sorted(payers)})")
        return payers[name]

    def limits(self) -> Limits:
        return Limits(max_json_bytes=self.max_json_bytes, max_ratio=self.max_ratio)

    def client(self) -> httpx.Client:
        return httpx.Client(timeout=self.timeout_seconds, headers={"User-Agent": "medicaid-assets price-transparency"})

    def check(self, url: str) -> None:
        check_url(url, allow_private=self.allow_private_urls)

    def fetch_toc(self, payer: Payer) -> bytes:
        with self.client() as client:
            return fetch_bytes(
                client, payer.toc_url, max_bytes=self.max_toc_bytes, allow_private=self.allow_private_urls
            )

    def reference_fetcher(self, client: httpx.Client):
        """A ``fetch(url) -> bytes`` for remote provider-reference files (the normalizer runs it in threads)."""

        def fetch(url: str) -> bytes:
            return fetch_bytes(client, url, max_bytes=self.max_reference_bytes, allow_private=self.allow_private_urls)

        return fetch

    def with_versions(self, listed: list[ListedFile]) -> list[ListedFile]:
        """The listed files with the version their server states now (one ranged GET each, a few at a time)."""
        with self.client() as client:
            versions = probe_versions(
                lambda url: probe_version(client, url, allow_private=self.allow_private_urls),
                (f.url for f in listed),
                self.reference_concurrency,
            )
        return [f.with_version(versions[f.url]) for f in listed]

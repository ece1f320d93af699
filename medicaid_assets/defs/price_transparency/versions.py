"""Which content a listed in-network file has now, asked without downloading it.

Payers re-list the same file URLs in every month's table of contents, some unchanged, some rewritten in place.
The version (ETag, else Last-Modified, else size) tells them apart, so a file partition is one published content:
an unchanged file is not read again, a rewritten one is. Asked with a one-byte ranged GET, not HEAD: a signed
(pre-signed GET) URL refuses any other method.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import httpx

from medicaid_assets.defs.price_transparency.safety import open_stream

_TOTAL = re.compile(r"/(\d+)\s*$")


def version_of(etag: str | None, last_modified: str | None, size: int | None) -> str:
    """The identity of a file's content as its server states it ("" when it states nothing)."""
    if etag:
        return f"etag:{etag.removeprefix('W/')}"
    if last_modified:
        return f"modified:{last_modified}"
    return f"size:{size}" if size is not None else ""


def probe_version(client: httpx.Client, url: str, *, allow_private: bool = False) -> str:
    """The version of ``url`` from the headers of a ``Range: bytes=0-0`` GET (the body is never read)."""
    with open_stream(client, url, allow_private=allow_private, headers={"Range": "bytes=0-0"}) as response:
        headers = response.headers
        size: int | None = None
        if response.status_code == 206 and (m := _TOTAL.search(headers.get("content-range", ""))):
            size = int(m.group(1))
        elif (length := headers.get("content-length", "")).isdigit():
            size = int(length)
        return version_of(headers.get("etag"), headers.get("last-modified"), size)


def probe_versions(probe: Callable[[str], str], urls: Iterable[str], concurrency: int) -> dict[str, str]:
    """``{url: version}`` for every URL, ``concurrency`` at a time; a failure raises, naming its URL."""
    urls = list(dict.fromkeys(urls))

    def one(url: str) -> str:
        try:
            return probe(url)
        except httpx.HTTPError as exc:
            raise httpx.HTTPError(f"{url.split('?', 1)[0]}: asking for its version failed ({exc})") from exc

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return dict(zip(urls, pool.map(one, urls), strict=True))

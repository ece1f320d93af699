"""Untrusted URLs: tables of contents and reference files come from third parties and name any address.

Only http(s); hosts that resolve to private, loopback, link-local, multicast or reserved addresses are refused
unless the deployment allows them (the sample world on loopback does). Bodies are read with a size cap.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx


class UnsafeUrlError(ValueError):
    """A URL we will not fetch; the message says which and why."""


def check_url(url: str, *, allow_private: bool = False) -> None:
    """Raise :class:`UnsafeUrlError` unless ``url`` is http(s) to a public address (or ``allow_private``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrlError(f"{url[:200]!r}: only http(s) URLs are fetched, not {parts.scheme or 'no scheme'!r}")
    if parts.username or parts.password:
        raise UnsafeUrlError(f"{parts.hostname}: URLs carrying credentials are refused")
    host = parts.hostname
    if not host:
        raise UnsafeUrlError(f"{url[:200]!r}: no host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise UnsafeUrlError(f"{host}: does not resolve ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise UnsafeUrlError(
                f"{host} resolves to {address}, a private/loopback/link-local address: refused "
                "(set PRICE_TRANSPARENCY_ALLOW_PRIVATE_URLS=1 only for trusted local servers)"
            )


@contextmanager
def open_stream(
    client: httpx.Client,
    url: str,
    *,
    allow_private: bool = False,
    headers: dict[str, str] | None = None,
    max_redirects: int = 5,
) -> Iterator[httpx.Response]:
    """A streaming GET of ``url``, every redirect checked like the URL itself; raises on a non-2xx answer."""
    for _ in range(max_redirects + 1):
        check_url(url, allow_private=allow_private)
        with client.stream("GET", url, headers=headers, follow_redirects=False) as response:
            if response.is_redirect:
                url = str(response.url.join(response.headers["location"]))
                continue
            response.raise_for_status()
            yield response
            return
    raise UnsafeUrlError(f"{url}: more than {max_redirects} redirects")


def fetch_bytes(client: httpx.Client, url: str, *, max_bytes: int, allow_private: bool = False) -> bytes:
    """GET ``url`` into memory, refusing unsafe addresses (redirects included), non-2xx answers and big bodies."""
    with open_stream(client, url, allow_private=allow_private) as response:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise UnsafeUrlError(f"{url}: {int(declared):,} bytes declared, over the {max_bytes:,}-byte limit")
        parts, total = [], 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > max_bytes:
                raise UnsafeUrlError(f"{url}: more than the {max_bytes:,}-byte limit")
            parts.append(chunk)
        return b"".join(parts)

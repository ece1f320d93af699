"""Resumable, validated, atomic HTTP downloads.

A download streams into ``<dest>.part`` (a stable name, so the next run can resume it with an HTTP
``Range`` request), is checked (size, not an HTML error page, a caller-supplied validator such as
"parquet footer readable"), and only then renamed over ``dest``. A good existing ``dest`` is reused
without any request. What the server said (ETag, Last-Modified, size, sha256) is kept beside the file
in ``<dest>.meta.json`` and returned as metadata.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from medicaid_assets.core.filelock import exclusive, lock_path
from medicaid_assets.core.retry import RETRYABLE_STATUS, RetryLater, retry_after_seconds, retrying

CHUNK = 1 << 20
NET_CHUNK = 1 << 16  # small, so a connection cut mid-body still leaves its bytes in the .part file

Progress = Callable[[int, int | None], None]
Validator = Callable[[Path], None]


class DownloadError(RuntimeError):
    """A download that cannot produce a good file; the message names the URL and what came back."""


@dataclass(frozen=True)
class DownloadResult:
    url: str
    path: str
    size: int
    sha256: str
    etag: str | None
    last_modified: str | None
    reused: bool
    resumed_from: int
    seconds: float

    def metadata(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".meta.json")


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _sha256_file(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (files here reach tens of GB)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _looks_like_html(first_bytes: bytes, content_type: str) -> bool:
    head = first_bytes.lstrip()[:64].lower()
    return "text/html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def read_meta(dest: Path) -> dict | None:
    try:
        return json.loads(meta_path(dest).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_meta(dest: Path, result: DownloadResult) -> None:
    tmp = meta_path(dest).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(result), indent=2, sort_keys=True))
    os.replace(tmp, meta_path(dest))


def download(client: httpx.Client, url: str, dest: Path, **options) -> DownloadResult:
    """Make ``dest`` a complete, validated copy of ``url``; reuse it if it already is one (options: see below).

    One process at a time per ``dest`` (a lock file beside it): a second run waits, then reuses what the first
    finished, instead of both writing into one ``.part`` file.
    """
    with exclusive(lock_path(dest), f"download {url}"):
        return _download(client, url, dest, **options)


def _download(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    validate: Validator | None = None,
    progress: Progress | None = None,
    allow_html: bool = False,
    attempts: int = 5,
    backoff_seconds: float = 1.0,
) -> DownloadResult:
    """Make ``dest`` a complete, validated copy of ``url``; reuse it if it already is one."""
    started = time.monotonic()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and dest.stat().st_size > 0:
        meta = read_meta(dest)
        # Reuse a file we downloaded from this URL (unless its size changed since), or one put there by hand.
        if meta is None or (meta.get("url") == url and meta.get("size") == dest.stat().st_size):
            if meta is None:
                if validate is not None:
                    validate(dest)
                meta = {"sha256": sha256_file(dest), "etag": None, "last_modified": None}
            return DownloadResult(
                url=url,
                path=str(dest),
                size=dest.stat().st_size,
                sha256=meta["sha256"],
                etag=meta.get("etag"),
                last_modified=meta.get("last_modified"),
                reused=True,
                resumed_from=0,
                seconds=time.monotonic() - started,
            )
    part = part_path(dest)
    try:
        result = retrying(attempts=attempts, backoff_seconds=backoff_seconds)(
            _fetch_once, client, url, dest, part, progress, allow_html
        )
    except OSError as exc:  # the disk is full, or the file too large for it
        raise DownloadError(
            f"{url}: writing {part} failed ({exc}); nothing was replaced, and the bytes received so far "
            "stay in the .part file for the next run to resume from"
        ) from exc
    except RetryLater as exc:
        raise DownloadError(f"{url}: gave up after {attempts} attempts; last error: {exc}") from exc.__cause__
    try:
        if validate is not None:
            validate(part)
    except Exception as exc:
        part.unlink(missing_ok=True)
        meta_path(part).unlink(missing_ok=True)
        raise DownloadError(f"{url}: downloaded file failed validation ({exc}); nothing was replaced") from exc
    os.replace(part, dest)
    final = DownloadResult(**{**asdict(result), "seconds": time.monotonic() - started})
    _write_meta(dest, final)
    with contextlib.suppress(FileNotFoundError):
        meta_path(part).unlink()
    return final


def _fetch_once(
    client: httpx.Client, url: str, dest: Path, part: Path, progress: Progress | None, allow_html: bool
) -> DownloadResult:
    """One GET, resuming ``part`` when the server honours Range for the same ETag."""
    have = part.stat().st_size if part.is_file() else 0
    part_meta = read_meta(part) or {}
    headers = {}
    if have and part_meta.get("url") == url:
        headers["Range"] = f"bytes={have}-"
        if part_meta.get("etag"):
            headers["If-Range"] = part_meta["etag"]
    else:
        have = 0
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code in RETRYABLE_STATUS:
                raise RetryLater(f"HTTP {response.status_code}", retry_after_seconds(response.headers))
            if response.status_code not in (200, 206):
                raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
            resumed = response.status_code == 206
            if not resumed:
                have = 0
            etag = response.headers.get("etag")
            last_modified = response.headers.get("last-modified")
            total = _expected_total(response, have)
            meta_path(part).write_text(json.dumps({"url": url, "etag": etag}))
            digest = _sha256_file(part) if resumed else hashlib.sha256()
            done = have
            checked_html = resumed
            with part.open("ab" if resumed else "wb") as fh:
                for chunk in response.iter_bytes(NET_CHUNK):
                    if not checked_html:
                        checked_html = True
                        if not allow_html and _looks_like_html(chunk, response.headers.get("content-type", "")):
                            raise DownloadError(
                                f"{url}: the server sent an HTML page instead of the file "
                                f"(first bytes: {chunk[:120]!r}); nothing was replaced"
                            )
                    fh.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            if total is not None and done != total:
                raise RetryLater(f"truncated: got {done} of {total} bytes")
    except DownloadError:
        part.unlink(missing_ok=True)
        meta_path(part).unlink(missing_ok=True)
        raise
    except httpx.UnsupportedProtocol as exc:  # a redirect to file://, ftp://…: never followed, never retried
        raise DownloadError(f"{url}: redirected away from http/https ({exc}); refused, nothing was replaced") from exc
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise RetryLater(f"{type(exc).__name__}: {exc}") from exc
    return DownloadResult(
        url=url,
        path=str(dest),
        size=done,
        sha256=digest.hexdigest(),
        etag=etag,
        last_modified=last_modified,
        reused=False,
        resumed_from=have,
        seconds=0.0,
    )


def _expected_total(response: httpx.Response, have: int) -> int | None:
    content_range = response.headers.get("content-range", "")
    if response.status_code == 206 and "/" in content_range:
        size = content_range.rsplit("/", 1)[1]
        return int(size) if size.isdigit() else None
    length = response.headers.get("content-length")
    return int(length) + (have if response.status_code == 206 else 0) if length and length.isdigit() else None


class _Busy(RetryLater):
    """A retryable status from :func:`get_page`; on the last attempt its response is the answer."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}", retry_after_seconds(response.headers))
        self.response = response


def get_page(
    client: httpx.Client, url: str, *, attempts: int = 5, backoff_seconds: float = 1.0, timeout: float | None = None
) -> httpx.Response:
    """GET a small page (a listing, an index) retried like a download: 429/5xx and transport errors (a timeout, a
    connection cut, a body cut short) wait ``Retry-After`` or back off, ``attempts`` times in all. Returns the last
    answer (the caller judges its status), or raises the last transport error."""

    def once() -> httpx.Response:
        response = client.get(url, timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout)
        if response.status_code in RETRYABLE_STATUS:
            raise _Busy(response)
        return response

    def retryable(exc: BaseException) -> bool:
        return isinstance(exc, _Busy) or (
            isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol)
        )

    try:
        return retrying(attempts=attempts, backoff_seconds=backoff_seconds, retryable=retryable)(once)
    except _Busy as exc:
        return exc.response


def file_name_from_url(url: str) -> str:
    """Last path component of ``url`` (what a download is saved as); refuses URLs without one."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"cannot derive a file name from URL {url!r}")
    return name

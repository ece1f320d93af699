"""The ``medicaid-assets`` CLI with a SIGKILL armed at the n-th hit of an instrumented point.

    python -m medicaid_assets_tests.reliability.crashpoint download --dagster-home H

Environment:

* ``RELIABILITY_CRASH=<point>:<n>``: the process SIGKILLs itself (no handler, no cleanup, no flush: exactly
  what ``kill -9`` or the OOM killer does) when ``<point>`` is reached for the n-th time.
* ``RELIABILITY_COUNTS=<path>``: at a normal exit, write ``{point: hits}`` there (the census a test draws
  its seeded kill points from).

The wrappers only count and delegate: without ``RELIABILITY_CRASH`` the CLI behaves as it always does.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import sys
import threading
import zipfile
from collections import Counter

POINTS = {
    "download.chunk": "a chunk of a download body written to <file>.part (8 KiB chunks)",
    "download.commit": "a download renamed into place, its .meta.json not yet written",
    "zip.member": "an archive member about to be extracted",
    "bundle.marker": "an NPPES bundle extracted, its marker (.extracted.json / current.json) not yet written",
    "duckdb.sql": "a statement about to run on the warehouse (inside the load transactions)",
    "providers.sql": "a statement of the provider-table build from the monthly bundle (one transaction)",
    "sqlite.write": "a write statement about to run on a lookup cache (inside its transaction)",
    "file.fsync": "an atomic write's temp file complete, not yet fsynced",
    "file.rename": "an atomic write's temp file fsynced, not yet renamed over the final name",
    "output.row": "a row about to be written to an output CSV or parquet",
}
NET_CHUNK = 8192

_counts: Counter[str] = Counter()
_lock = threading.Lock()
_armed = os.environ.get("RELIABILITY_CRASH", "")
_point, _n = (_armed.split(":")[0], int(_armed.split(":")[1])) if _armed else ("", 0)


def hit(point: str) -> None:
    with _lock:
        _counts[point] += 1
        n = _counts[point]
    if point == _point and n == _n:
        os.kill(os.getpid(), signal.SIGKILL)


def _write_counts() -> None:
    path = os.environ.get("RELIABILITY_COUNTS")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(dict(_counts), fh)


class _Delegate:
    def __init__(self, target: object) -> None:
        self._target = target

    def __getattr__(self, name: str) -> object:
        return getattr(self._target, name)


_building = threading.local()


class _DuckDB(_Delegate):
    def execute(self, *args, **kwargs):
        hit("duckdb.sql")
        if getattr(_building, "providers", False):
            hit("providers.sql")
        return self._target.execute(*args, **kwargs)


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "COMMIT")


class _Sqlite(_Delegate):
    def execute(self, sql, *args, **kwargs):
        if sql.lstrip().upper().startswith(_WRITES):
            hit("sqlite.write")
        return self._target.execute(sql, *args, **kwargs)

    def executemany(self, sql, *args, **kwargs):
        hit("sqlite.write")
        return self._target.executemany(sql, *args, **kwargs)


class _Os(_Delegate):
    def fsync(self, fd: int) -> None:
        hit("file.fsync")
        os.fsync(fd)

    def replace(self, src, dst) -> None:
        hit("file.rename")
        os.replace(src, dst)


def install() -> None:
    from medicaid_assets.core import atomic, download
    from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
    from medicaid_assets.defs.reference.nppes import assets as nppes_assets
    from medicaid_assets.defs.reference.resolution import npi_cache
    from medicaid_assets.defs.reference.resolution import writers as outputs

    download.NET_CHUNK = NET_CHUNK
    fetch_once, write_meta = download._fetch_once, download._write_meta

    def _fetch_once(client, url, dest, part, progress, allow_html):
        def counted(done, total):
            hit("download.chunk")
            if progress is not None:
                progress(done, total)

        return fetch_once(client, url, dest, part, counted, allow_html)

    def _write_meta(dest, result):
        hit("download.commit")
        return write_meta(dest, result)

    download._fetch_once, download._write_meta = _fetch_once, _write_meta

    zip_open = zipfile.ZipFile.open

    def open_member(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            hit("zip.member")
        return zip_open(self, name, mode, *args, **kwargs)

    zipfile.ZipFile.open = open_member

    write_json = nppes_assets._write_json

    def _write_json(path, payload):
        hit("bundle.marker")
        return write_json(path, payload)

    nppes_assets._write_json = _write_json

    rebuild = nppes_assets._rebuild

    def _rebuild(*args, **kwargs):
        _building.providers = True
        try:
            return rebuild(*args, **kwargs)
        finally:
            _building.providers = False

    nppes_assets._rebuild = _rebuild

    get_connection = WarehouseResource.get_connection

    @contextlib.contextmanager
    def counted_connection(self):
        with get_connection(self) as conn:
            yield _DuckDB(conn)

    WarehouseResource.get_connection = counted_connection

    connect = npi_cache._connect
    npi_cache._connect = lambda path: _Sqlite(connect(path))

    atomic.os = _Os(os)

    row_values = outputs.row_values

    def counted_row(row, columns):
        hit("output.row")
        return row_values(row, columns)

    outputs.row_values = counted_row


def main(argv: list[str]) -> int:
    install()
    atexit.register(_write_counts)
    from medicaid_assets.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

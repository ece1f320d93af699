"""The persistent NPI cache: one SQLite file with the original pipeline's exact tables, so users' tools keep working.

Tables (original-pipeline notes §1.8, created with ``IF NOT EXISTS`` so an existing cache opens as is):
``npi_cache`` (one row per NPI: status, provider name, error, when) and ``npi_api_responses`` (one row per
NPI: the latest answer split into JSON columns, with its URL, request parameters, run id and raw body).
Statuses are ``ok | not_found | error | invalid``; ``invalid`` (failed check digit) is ours and never costs
a request. ``error`` is not settled: the next run asks again (the original skipped errors forever).

Writes are crash-safe by construction: WAL with ``synchronous=NORMAL`` and one transaction per result, so
a killed process loses only the requests in flight, and a power loss at most the last commits. An ``error``
never replaces a settled answer (``ok``/``not_found``): a transient failure on a re-check keeps the record.
A response row is replaced only by a newer one (``requested_at_utc``, unix seconds, greater), as the original.

:class:`SqliteCache` (connection, locking, identifier sets, snapshot reads) is shared with the HCPCS cache.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar, Self

from medicaid_assets.core.npi import is_valid_npi
from medicaid_assets.defs.reference.resolution.writers import NPI_DATASET_COLUMNS, NPI_MAPPING_COLUMNS

STATUSES = ("ok", "not_found", "error", "invalid")
SETTLED = ("ok", "not_found", "invalid")
MAPPING_STATUSES = ("ok", "not_found")
UNRESOLVED_STATUSES = ("not_found", "error", "invalid")
INVALID_MESSAGE = "invalid NPI: not 10 digits with a valid check digit"
BUSY_TIMEOUT_MS = 30_000
BULK_CHUNK = 10_000
# Responses are a few KB each; big pages write them about 1.5 times faster than SQLite's default 4 KB.
PAGE_SIZE = 16_384

DDL = """
CREATE TABLE IF NOT EXISTS npi_cache (npi TEXT PRIMARY KEY, provider_name TEXT, status TEXT NOT NULL,
  error_message TEXT, fetched_at_unix INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS idx_npi_cache_status ON npi_cache(status);
CREATE TABLE IF NOT EXISTS npi_api_responses (npi TEXT PRIMARY KEY, basic_json TEXT, addresses_json TEXT,
  practice_locations_json TEXT, taxonomies_json TEXT, identifiers_json TEXT, other_names_json TEXT,
  endpoints_json TEXT, url TEXT, error_message TEXT, api_run_id TEXT, requested_at_utc TEXT,
  request_params_json TEXT, results_json TEXT, response_json_raw TEXT);
CREATE INDEX IF NOT EXISTS idx_npi_api_responses_requested_at ON npi_api_responses(requested_at_utc);
"""

MAPPING_COLUMNS = NPI_MAPPING_COLUMNS
UNRESOLVED_COLUMNS = ("npi", "status", "error_message", "fetched_at_unix")
# Parquet column -> npi_api_responses column, in the output's order (contract §8).
PARQUET_SOURCES = (
    ("npi", "npi"),
    ("basic", "basic_json"),
    ("addresses", "addresses_json"),
    ("practice_locations", "practice_locations_json"),
    ("taxonomies", "taxonomies_json"),
    ("identifiers", "identifiers_json"),
    ("other_names", "other_names_json"),
    ("endpoints", "endpoints_json"),
    ("url", "url"),
    ("error_message", "error_message"),
    ("api_run_id", "api_run_id"),
    ("requested_at_utc", "requested_at_utc"),
    ("request_params", "request_params_json"),
    ("results", "results_json"),
    ("response_json", "response_json_raw"),
)
PARQUET_COLUMNS = tuple(name for name, _ in PARQUET_SOURCES)
assert PARQUET_COLUMNS == NPI_DATASET_COLUMNS, "npi.parquet columns are the contract's"
# The first result's keys stored as JSON columns; a missing list is stored as "[]".
RESULT_LISTS = (
    ("addresses_json", "addresses"),
    ("practice_locations_json", "practiceLocations"),
    ("taxonomies_json", "taxonomies"),
    ("identifiers_json", "identifiers"),
    ("other_names_json", "other_names"),
    ("endpoints_json", "endpoints"),
)
RESPONSE_COLUMNS = (
    "npi",
    "basic_json",
    *(column for column, _ in RESULT_LISTS),
    "url",
    "error_message",
    "api_run_id",
    "requested_at_utc",
    "request_params_json",
    "results_json",
    "response_json_raw",
)

_UPSERT_CACHE = """
INSERT INTO npi_cache (npi, provider_name, status, error_message, fetched_at_unix) VALUES (?, ?, ?, ?, ?)
ON CONFLICT(npi) DO UPDATE SET provider_name = excluded.provider_name, status = excluded.status,
  error_message = excluded.error_message, fetched_at_unix = excluded.fetched_at_unix
WHERE excluded.status <> 'error' OR npi_cache.status NOT IN ('ok', 'not_found')
"""
# Written only when the cache row now holds this record's status (i.e. the cache upsert above was not
# refused), and only over an older response. The last parameter is the record's status.
_UPSERT_RESPONSE = f"""
INSERT INTO npi_api_responses ({", ".join(RESPONSE_COLUMNS)})
SELECT {", ".join(f"?{i}" for i in range(1, len(RESPONSE_COLUMNS) + 1))}
WHERE (SELECT status FROM npi_cache WHERE npi = ?1) = ?{len(RESPONSE_COLUMNS) + 1}
ON CONFLICT(npi) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in RESPONSE_COLUMNS[1:])}
WHERE npi_api_responses.requested_at_utc IS NULL
   OR CAST(excluded.requested_at_utc AS INTEGER) > CAST(npi_api_responses.requested_at_utc AS INTEGER)
"""


def unix_now() -> int:
    return int(time.time())


def new_api_run_id() -> str:
    """``api-run-<unix millis>``, the original's run id."""
    return f"api-run-{time.time_ns() // 1_000_000}"


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def to_json(value: Any) -> str:
    """Compact JSON, non-ASCII kept (NPPES names are Latin-1)."""
    return _ENCODER.encode(value)


def _object_json(parts: Mapping[str, str]) -> str:
    """A JSON object from already encoded values."""
    return "{" + ",".join(f"{to_json(key)}:{value}" for key, value in parts.items()) + "}"


def reset(path: Path) -> list[Path]:
    """Delete a cache file and its WAL companions (``--reset-map``); returns what was removed."""
    removed = []
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


def _chunks(items: Iterable[Any], size: int = BULK_CHUNK) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last one shorter): stream big writes without holding them."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def sql_in(values: Iterable[str]) -> str:
    """``('a', 'b')`` for a fixed set of status literals."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def _load_ids(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
    """Put ``ids`` into ``temp.wanted`` (case-sensitive, distinct): joins scale where ``IN (…)`` does not."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (id TEXT PRIMARY KEY)")
    conn.execute("BEGIN")
    conn.execute("DELETE FROM temp.wanted")
    conn.executemany("INSERT OR IGNORE INTO temp.wanted VALUES (?)", ((i,) for i in ids))
    conn.execute("COMMIT")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


class SqliteCache:
    """One cache file: a writer connection (WAL, ``synchronous=NORMAL``) shared by threads under a lock.

    Use as a context manager; writes are explicit ``BEGIN IMMEDIATE`` transactions; exports read a snapshot
    on their own connection, so they neither block nor see half of a concurrent write.
    """

    DDL: ClassVar[str]

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = _connect(path)
        self._conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # takes effect on a new file only
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(self.DDL)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, ids: Iterable[str] | None = None) -> list[tuple]:
        """Rows of ``sql`` on the writer connection, with ``temp.wanted`` holding ``ids`` when given."""
        with self._lock:
            if ids is not None:
                _load_ids(self._conn, ids)
            return self._conn.execute(sql).fetchall()

    @contextlib.contextmanager
    def _reader(self, ids: Iterable[str] | None = None) -> Iterator[sqlite3.Connection]:
        """A connection of its own in one read snapshot, with ``temp.wanted`` holding ``ids`` when given."""
        conn = _connect(self.path)
        try:
            if ids is not None:
                _load_ids(conn, ids)
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _snapshot(self, sql: str, ids: Iterable[str] | None = None) -> Iterator[tuple]:
        """Stream the rows of ``sql`` from one read snapshot: exports neither block writers nor see half a write."""
        with self._reader(ids) as conn:
            cursor = conn.execute(sql)
            while rows := cursor.fetchmany(BULK_CHUNK):
                yield from rows

    def integrity_check(self) -> str:
        return self._query("PRAGMA integrity_check")[0][0]


@dataclass(frozen=True)
class NpiResponse:
    """Where an answer came from and what it said (``payload`` None: no usable body, e.g. a transport error)."""

    url: str
    request_params: Mapping[str, Any]
    api_run_id: str
    requested_at_utc: str  # unix seconds, as a string (the original's convention despite the name)
    payload: Mapping[str, Any] | None = None
    raw: str | None = None  # the body as received; defaults to the payload as JSON


@dataclass(frozen=True)
class NpiRecord:
    """One resolved (or failed) NPI: its ``npi_cache`` row and, when a request or bulk file answered, its response."""

    npi: str
    status: str
    provider_name: str | None = None
    error_message: str | None = None
    fetched_at_unix: int = field(default_factory=unix_now)
    response: NpiResponse | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"NPI status must be one of {STATUSES}, got {self.status!r}")

    @classmethod
    def invalid(cls, npi: str) -> NpiRecord:
        return cls(npi, "invalid", error_message=INVALID_MESSAGE)

    def cache_row(self) -> tuple:
        return (self.npi, self.provider_name, self.status, self.error_message, self.fetched_at_unix)

    def response_row(self) -> tuple | None:
        """The ``npi_api_responses`` values (then the status, for the guard), or None without a response.

        Each part of the payload is encoded once and the larger JSON texts are assembled from the parts:
        this is most of the cost of a bulk preload.
        """
        r = self.response
        if r is None:
            return None
        payload = r.payload if isinstance(r.payload, Mapping) else None
        results = payload.get("results") if payload is not None else None
        results = results if isinstance(results, list) else []
        first = results[0] if results and isinstance(results[0], Mapping) else None
        parts = {key: to_json(value) for key, value in first.items()} if first is not None else {}
        results_json = "[" + ",".join([_object_json(parts), *map(to_json, results[1:])]) + "]" if parts else "[]"
        if r.raw is not None or r.payload is None:
            raw = r.raw
        elif payload is not None and isinstance(payload.get("results"), list):
            raw = _object_json({k: results_json if k == "results" else to_json(v) for k, v in payload.items()})
        else:
            raw = to_json(r.payload)
        return (
            self.npi,
            parts.get("basic"),
            *(parts.get(key, "[]") for _, key in RESULT_LISTS),
            r.url,
            self.error_message,
            r.api_run_id,
            r.requested_at_utc,
            to_json(r.request_params),
            results_json,
            raw,
            self.status,
        )


class NpiCache(SqliteCache):
    """``npi_provider_cache.sqlite``: write results as they arrive, query what is settled, export in NPI order."""

    DDL = DDL

    def upsert_result(self, record: NpiRecord) -> None:
        """Write one result in its own transaction: call it from the per-result callback."""
        with self._transaction() as conn:
            conn.execute(_UPSERT_CACHE, record.cache_row())
            if (row := record.response_row()) is not None:
                conn.execute(_UPSERT_RESPONSE, row)

    def bulk_upsert(self, records: Iterable[NpiRecord]) -> int:
        """Write many results (the NPPES bulk preload) in one transaction, streaming chunks; returns the count.

        Cache rows alone go at a few hundred thousand a second. A response row costs its JSON, stored three
        times over (split columns, ``results_json``, raw: a few KB an NPI), so 1.8M bulk payloads would take
        minutes and gigabytes: write bulk hits without a response and build their payloads from the warehouse
        when the parquet is written (the original's parquet, too, lists bulk hits apart from cached API rows).
        """
        count = 0
        with self._transaction() as conn:
            for chunk in _chunks(records):
                conn.executemany(_UPSERT_CACHE, (r.cache_row() for r in chunk))
                conn.executemany(_UPSERT_RESPONSE, (row for r in chunk if (row := r.response_row()) is not None))
                count += len(chunk)
        return count

    def statuses(self, npis: Iterable[str]) -> dict[str, str]:
        """Status of each of ``npis`` the cache holds."""
        return dict(self._query("SELECT c.npi, c.status FROM temp.wanted w JOIN npi_cache c ON c.npi = w.id", npis))

    def status_counts(self) -> dict[str, int]:
        """Cached NPIs per status (the whole cache)."""
        return dict(self._query("SELECT status, count(*) FROM npi_cache GROUP BY status"))

    def settled(self, npis: Iterable[str]) -> set[str]:
        """Those of ``npis`` that need no request: ``ok``, ``not_found`` or ``invalid`` (never ``error``)."""
        return {npi for npi, status in self.statuses(npis).items() if status in SETTLED}

    def to_fetch(self, npis: Iterable[str]) -> list[str]:
        """Distinct ``npis`` to request, sorted: not settled, and valid (an invalid NPI never costs a request)."""
        wanted = set(npis)
        return sorted(wanted - self.settled(wanted) - {n for n in wanted if not is_valid_npi(n)})

    def mapping_rows(self) -> Iterator[tuple[str, str | None, str, int]]:
        """``npi,provider_name,status,fetched_at_unix`` of the ``ok``/``not_found`` rows, by NPI (the original)."""
        sql = f"SELECT {', '.join(MAPPING_COLUMNS)} FROM npi_cache WHERE status IN {sql_in(MAPPING_STATUSES)} ORDER BY npi"
        return self._snapshot(sql)

    def unresolved_rows(self, npis: Iterable[str]) -> Iterator[tuple[str, str, str | None, int]]:
        """``npi,status,error_message,fetched_at_unix`` of those of ``npis`` cached not_found/error/invalid, by NPI."""
        sql = (
            f"SELECT {', '.join('c.' + c for c in UNRESOLVED_COLUMNS)} FROM temp.wanted w JOIN npi_cache c "
            f"ON c.npi = w.id WHERE c.status IN {sql_in(UNRESOLVED_STATUSES)} ORDER BY c.npi"
        )
        return self._snapshot(sql, npis)

    def parquet_rows(self, npis: Iterable[str] | None = None) -> Iterator[tuple]:
        """Response rows in :data:`PARQUET_COLUMNS` order, by NPI; only those of ``npis`` when given.

        NPIs without a response row (invalid, or never answered) are the caller's to fill in.
        """
        columns = ", ".join(f"r.{source}" for _, source in PARQUET_SOURCES)
        if npis is None:
            return self._snapshot(f"SELECT {columns} FROM npi_api_responses r ORDER BY r.npi")
        sql = f"SELECT {columns} FROM temp.wanted w JOIN npi_api_responses r ON r.npi = w.id ORDER BY r.npi"
        return self._snapshot(sql, npis)

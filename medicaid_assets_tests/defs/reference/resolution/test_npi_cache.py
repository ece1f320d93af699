"""The NPI cache: the original's schema, crash safety, what counts as settled, export orders, bulk speed."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import time
from pathlib import Path

from medicaid_assets.core.npi import make_npi
from medicaid_assets.defs.reference.resolution.npi_cache import (
    BULK_CHUNK,
    MAPPING_COLUMNS,
    PARQUET_COLUMNS,
    NpiCache,
    NpiRecord,
    NpiResponse,
    new_api_run_id,
    reset,
)
from medicaid_assets_tests.conftest import REFERENCE

CAPTURE = json.loads((REFERENCE / "nppes_api_v21_organization_2026_capture.json").read_text())
EMPTY = json.loads((REFERENCE / "nppes_api_v21_empty_result.json").read_text())
ORIGINAL_COLUMNS = {
    "npi_cache": ["npi", "provider_name", "status", "error_message", "fetched_at_unix"],
    "npi_api_responses": [
        "npi",
        "basic_json",
        "addresses_json",
        "practice_locations_json",
        "taxonomies_json",
        "identifiers_json",
        "other_names_json",
        "endpoints_json",
        "url",
        "error_message",
        "api_run_id",
        "requested_at_utc",
        "request_params_json",
        "results_json",
        "response_json_raw",
    ],
}
# The original's DDL, verbatim (notes §1.8): a cache it wrote must open and work unchanged.
ORIGINAL_DDL = """
CREATE TABLE npi_cache (npi TEXT PRIMARY KEY, provider_name TEXT, status TEXT NOT NULL,
  error_message TEXT, fetched_at_unix INTEGER NOT NULL);
CREATE INDEX idx_npi_cache_status ON npi_cache(status);
CREATE TABLE npi_api_responses (npi TEXT PRIMARY KEY, basic_json TEXT, addresses_json TEXT,
  practice_locations_json TEXT, taxonomies_json TEXT, identifiers_json TEXT, other_names_json TEXT,
  endpoints_json TEXT, url TEXT, error_message TEXT, api_run_id TEXT, requested_at_utc TEXT,
  request_params_json TEXT, results_json TEXT, response_json_raw TEXT);
CREATE INDEX idx_npi_api_responses_requested_at ON npi_api_responses(requested_at_utc);
"""
NPIS = [make_npi(100_000_000 + i * 7919) for i in range(40)]


def api_record(npi: str, status: str = "ok", requested_at: int = 1_700_000_000, **kwargs) -> NpiRecord:
    """A record as the API resolver writes it, with the real capture (or the real empty result) as body."""
    body = CAPTURE if status == "ok" else EMPTY if status == "not_found" else None
    url = f"https://npiregistry.cms.hhs.gov/api/?version=2.1&number={npi}"
    response = NpiResponse(url, {"version": "2.1", "number": npi}, "api-run-1", str(requested_at), body)
    name = "INOVA FAIRFAX HOSPITAL" if status == "ok" else None
    return NpiRecord(npi, status, name, "HTTP 503" if status == "error" else None, requested_at, response, **kwargs)


def _columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def test_schema_is_the_originals_and_an_original_cache_opens(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "npi" / "npi_provider_cache.sqlite"
    with NpiCache(path) as cache:
        assert cache._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cache._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert cache._conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    for table, columns in ORIGINAL_COLUMNS.items():
        assert _columns(path, table) == columns
    legacy = tmp_path / "legacy.sqlite"
    with sqlite3.connect(legacy) as conn:
        conn.executescript(ORIGINAL_DDL)
        conn.execute("INSERT INTO npi_cache VALUES (?, 'X', 'error', 'timeout', 1)", (NPIS[0],))
    with NpiCache(legacy) as cache:
        assert cache.statuses(NPIS[:2]) == {NPIS[0]: "error"}
        cache.upsert_result(api_record(NPIS[0]))
        assert cache.statuses(NPIS[:1]) == {NPIS[0]: "ok"}


def test_settled_excludes_errors_and_to_fetch_skips_invalid(tmp_path: Path) -> None:
    bad = NPIS[3][:9] + str((int(NPIS[3][9]) + 1) % 10)
    with NpiCache(tmp_path / "c.sqlite") as cache:
        cache.upsert_result(api_record(NPIS[0]))
        cache.upsert_result(api_record(NPIS[1], "not_found"))
        cache.upsert_result(api_record(NPIS[2], "error"))
        cache.upsert_result(NpiRecord.invalid(bad))
        asked = [*NPIS[:5], bad, "12345", NPIS[0]]
        assert cache.statuses(asked) == {NPIS[0]: "ok", NPIS[1]: "not_found", NPIS[2]: "error", bad: "invalid"}
        assert cache.settled(asked) == {NPIS[0], NPIS[1], bad}  # error is retried next run
        assert cache.to_fetch(asked) == sorted([NPIS[2], NPIS[3], NPIS[4]])  # never bad or 12345


def test_an_error_never_replaces_an_answer_and_old_responses_never_replace_new(tmp_path: Path) -> None:
    with NpiCache(tmp_path / "c.sqlite") as cache:
        cache.upsert_result(api_record(NPIS[0], requested_at=1_700_000_100))
        cache.upsert_result(api_record(NPIS[0], "error", requested_at=1_700_000_200))
        ((_, name, status, fetched),) = cache.mapping_rows()
        assert (status, name, fetched) == ("ok", "INOVA FAIRFAX HOSPITAL", 1_700_000_100)
        assert next(cache.parquet_rows())[PARQUET_COLUMNS.index("requested_at_utc")] == "1700000100"
        # An older answer arriving late updates the cache row but not the newer response (the original's rule).
        cache.upsert_result(api_record(NPIS[0], "not_found", requested_at=1_700_000_050))
        row = dict(zip(PARQUET_COLUMNS, next(cache.parquet_rows()), strict=True))
        assert cache.statuses([NPIS[0]]) == {NPIS[0]: "not_found"}
        assert row["requested_at_utc"] == "1700000100" and row["basic"] is not None
        # A newer not_found (e.g. deactivated since) replaces the answer.
        cache.upsert_result(api_record(NPIS[0], "not_found", requested_at=1_700_000_300))
        row = dict(zip(PARQUET_COLUMNS, next(cache.parquet_rows()), strict=True))
        assert (row["basic"], row["addresses"], row["results"]) == (None, "[]", "[]")


def test_exports_orders_and_columns(tmp_path: Path) -> None:
    with NpiCache(tmp_path / "c.sqlite") as cache:
        for i, npi in enumerate(reversed(NPIS[:6])):
            cache.upsert_result(api_record(npi, ("ok", "not_found", "error")[i % 3]))
        cache.upsert_result(NpiRecord.invalid("1234567890"))
        assert MAPPING_COLUMNS == ("npi", "provider_name", "status", "fetched_at_unix")
        mapping = list(cache.mapping_rows())
        assert [r[0] for r in mapping] == sorted(r[0] for r in mapping)
        assert {r[2] for r in mapping} == {"ok", "not_found"} and len(mapping) == 4
        unresolved = list(cache.unresolved_rows([*NPIS, "1234567890"]))
        assert [r[0] for r in unresolved] == sorted(r[0] for r in unresolved)
        assert sorted((r[1], r[2]) for r in unresolved if r[1] != "not_found") == [
            *([("error", "HTTP 503")] * 2),
            ("invalid", "invalid NPI: not 10 digits with a valid check digit"),
        ]
        assert list(PARQUET_COLUMNS) == [
            "npi",
            "basic",
            "addresses",
            "practice_locations",
            "taxonomies",
            "identifiers",
            "other_names",
            "endpoints",
            "url",
            "error_message",
            "api_run_id",
            "requested_at_utc",
            "request_params",
            "results",
            "response_json",
        ]
        rows = [dict(zip(PARQUET_COLUMNS, r, strict=True)) for r in cache.parquet_rows()]
        assert [r["npi"] for r in rows] == sorted(NPIS[:6])  # no response row for the invalid NPI
        ok = next(r for r in rows if r["basic"])
        result = CAPTURE["results"][0]
        assert json.loads(ok["basic"]) == result["basic"]
        assert json.loads(ok["practice_locations"]) == result["practiceLocations"]
        assert json.loads(ok["results"]) == CAPTURE["results"]
        assert json.loads(ok["response_json"]) == CAPTURE
        assert json.loads(ok["request_params"]) == {"version": "2.1", "number": ok["npi"]}
        error = next(r for r in rows if r["error_message"])
        assert (error["response_json"], error["results"], error["taxonomies"]) == (None, "[]", "[]")
        assert [r[0] for r in cache.parquet_rows(NPIS[2:4])] == sorted(NPIS[2:4])


def _crashing_writer(path: str, committed: int, ready: multiprocessing.Event) -> None:
    """Write ``committed`` results one by one, then die with a bulk write half done (no cleanup at all)."""
    cache = NpiCache(Path(path))
    for npi in NPIS[:committed]:
        cache.upsert_result(api_record(npi))
    ready.set()

    def records():
        for i in range(BULK_CHUNK * 3):
            if i == BULK_CHUNK + 10:  # a full chunk is already in the open transaction
                os._exit(17)
            yield NpiRecord(f"9{i:09d}", "ok", "X")

    cache.bulk_upsert(records())


def test_a_crash_loses_only_what_was_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_crashing_writer, args=(str(path), 25, ready))
    child.start()
    child.join(60)
    assert ready.is_set() and child.exitcode == 17
    assert path.with_name("c.sqlite-wal").exists()  # the crash left the WAL behind
    with NpiCache(path) as cache:
        assert cache.integrity_check() == "ok"
        assert cache.statuses(NPIS) == dict.fromkeys(NPIS[:25], "ok")
        assert len(list(cache.parquet_rows())) == 25
        assert not any(npi.startswith("9") for npi, *_ in cache.mapping_rows())


def test_reset_deletes_the_cache_and_its_wal_files(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = NpiCache(path)
    cache.upsert_result(api_record(NPIS[0]))
    assert path.with_name("c.sqlite-wal").exists()
    cache.close()
    for suffix in ("-wal", "-shm"):  # closing checkpoints them away; a crashed writer would leave them
        path.with_name("c.sqlite" + suffix).write_bytes(b"")
    assert {p.name for p in reset(path)} == {"c.sqlite", "c.sqlite-wal", "c.sqlite-shm"}
    assert list(tmp_path.iterdir()) == [] and reset(path) == []


def test_bulk_upsert_speed(tmp_path: Path) -> None:
    """Report only (no timing assert): 200k cache rows, and response rows with a real payload for 20k."""
    run = new_api_run_id()
    assert run.startswith("api-run-") and abs(int(run[8:]) - time.time() * 1000) < 60_000
    response = NpiResponse("nppes_bulk:monthly:npidata.csv", {"source": "nppes_bulk"}, run, "1700000000", CAPTURE)
    with NpiCache(tmp_path / "c.sqlite") as cache:
        start = time.perf_counter()
        assert (
            cache.bulk_upsert(NpiRecord(f"1{i:09d}", "ok", "NAME", fetched_at_unix=1) for i in range(200_000))
            == 200_000
        )
        cache_only = time.perf_counter() - start
        start = time.perf_counter()
        assert (
            cache.bulk_upsert(NpiRecord(f"2{i:09d}", "ok", "NAME", response=response) for i in range(20_000)) == 20_000
        )
        with_responses = time.perf_counter() - start
        assert len(cache.settled(f"1{i:09d}" for i in range(200_000))) == 200_000
    print(f"\nbulk_upsert: 200k cache rows {cache_only:.2f} s; 20k with responses {with_responses:.2f} s")

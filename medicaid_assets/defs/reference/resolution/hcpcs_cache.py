"""The persistent HCPCS cache: one SQLite file with the original pipeline's exact tables (notes §1.8).

``hcpcs_cache`` holds one row per record of a code (a code may have several: NOC and not, older
definitions; the primary key spans every field), or one empty row with the status ``not_found``/``error``;
``hcpcs_api_responses`` holds the latest answer per code. A write replaces every row of a code
(``DELETE … COLLATE NOCASE`` then insert) in one transaction, as the original; an ``error`` never replaces a
settled code (``ok``/``not_found``), and a response row is replaced only by a newer one.

Codes match case-insensitively (indexes ``COLLATE NOCASE`` are added beside the original's; tables are
unchanged). The cache stores the spelling it is given (the canonical upper case); queries and exports take
the dataset's raw spellings and answer under them.

Rows seeded from the fallback CSV carry a payload shaped like the API's, ``[n, [codes], {ef: [...]},
[[code, display], …]]`` (display as pairs, where the original wrote bare strings), with url
``hcpcs_cache:<fallback csv>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass, field, fields
from itertools import groupby
from typing import Any

from medicaid_assets.defs.reference.code_sets.keys import RECORD_FIELDS
from medicaid_assets.defs.reference.resolution.npi_cache import (
    SqliteCache,
    new_api_run_id,
    sql_in,
    to_json,
    unix_now,
)
from medicaid_assets.defs.reference.resolution.writers import HCPCS_DATASET_COLUMNS, HCPCS_MAPPING_COLUMNS

STATUSES = ("ok", "not_found", "error")
SETTLED = ("ok", "not_found")
UNRESOLVED_STATUSES = ("not_found", "error")
FALLBACK_SOURCE = "hcpcs_cache"
MISSING = "missing_cache"

DDL = """
CREATE TABLE IF NOT EXISTS hcpcs_cache (hcpcs_code TEXT NOT NULL, short_desc TEXT NOT NULL DEFAULT '',
  long_desc TEXT NOT NULL DEFAULT '', add_dt TEXT NOT NULL DEFAULT '', act_eff_dt TEXT NOT NULL DEFAULT '',
  term_dt TEXT NOT NULL DEFAULT '', obsolete TEXT NOT NULL DEFAULT '', is_noc TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL, error_message TEXT NOT NULL DEFAULT '', fetched_at_unix INTEGER NOT NULL,
  PRIMARY KEY (hcpcs_code, short_desc, long_desc, add_dt, act_eff_dt, term_dt, obsolete, is_noc, status));
CREATE INDEX IF NOT EXISTS idx_hcpcs_cache_code_status ON hcpcs_cache(hcpcs_code, status);
CREATE TABLE IF NOT EXISTS hcpcs_api_responses (hcpcs_code TEXT PRIMARY KEY, ef_short_desc_json TEXT,
  ef_long_desc_json TEXT, ef_add_dt_json TEXT, ef_act_eff_dt_json TEXT, ef_term_dt_json TEXT,
  ef_obsolete_json TEXT, ef_is_noc_json TEXT, response_codes_json TEXT, response_display_json TEXT,
  response_extra_fields_json TEXT, url TEXT, error_message TEXT, api_run_id TEXT,
  requested_at_utc TEXT, request_params_json TEXT, response_json_raw TEXT);
CREATE INDEX IF NOT EXISTS idx_hcpcs_api_responses_requested_at ON hcpcs_api_responses(requested_at_utc);
CREATE INDEX IF NOT EXISTS idx_hcpcs_cache_code_nocase ON hcpcs_cache(hcpcs_code COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS idx_hcpcs_api_responses_code_nocase ON hcpcs_api_responses(hcpcs_code COLLATE NOCASE);
"""

# RECORD_FIELDS (the code sets' record, in table order) is also the order of the ``ef_*`` columns and ``extra_fields``.
FLAG_FIELDS = ("obsolete", "is_noc")  # stored "true"/"false"; JSON booleans in payloads, as the API sends them
MAPPING_COLUMNS = HCPCS_MAPPING_COLUMNS
UNRESOLVED_COLUMNS = ("hcpcs_code", "status", "error_message", "fetched_at_unix")
PARQUET_COLUMNS = HCPCS_DATASET_COLUMNS
RESPONSE_COLUMNS = (
    "hcpcs_code",
    *(f"ef_{name}_json" for name in RECORD_FIELDS),
    "response_codes_json",
    "response_display_json",
    "response_extra_fields_json",
    "url",
    "error_message",
    "api_run_id",
    "requested_at_utc",
    "request_params_json",
    "response_json_raw",
)
# A code's records: non-NOC first, then by dates and descriptor (the original's mapping order).
RECORD_ORDER = "c.is_noc <> 'false', c.act_eff_dt, c.add_dt, c.term_dt, c.short_desc"
STATUS_RANK = "CASE c.status WHEN 'ok' THEN 0 WHEN 'not_found' THEN 1 ELSE 2 END"

_DELETE_CODE = "DELETE FROM hcpcs_cache WHERE hcpcs_code = ? COLLATE NOCASE"
_HAS_ANSWER = f"SELECT 1 FROM hcpcs_cache WHERE hcpcs_code = ? COLLATE NOCASE AND status IN {sql_in(SETTLED)} LIMIT 1"
_INSERT_ROW = (
    f"INSERT OR IGNORE INTO hcpcs_cache (hcpcs_code, {', '.join(RECORD_FIELDS)}, status, error_message, "
    f"fetched_at_unix) VALUES ({', '.join('?' * (len(RECORD_FIELDS) + 4))})"
)
_UPSERT_RESPONSE = f"""
INSERT INTO hcpcs_api_responses ({", ".join(RESPONSE_COLUMNS)}) VALUES ({", ".join("?" * len(RESPONSE_COLUMNS))})
ON CONFLICT(hcpcs_code) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in RESPONSE_COLUMNS[1:])}
WHERE hcpcs_api_responses.requested_at_utc IS NULL
   OR CAST(excluded.requested_at_utc AS INTEGER) > CAST(hcpcs_api_responses.requested_at_utc AS INTEGER)
"""


@dataclass(frozen=True)
class HcpcsRecord:
    """One record of a code as the cache stores it: dates ``YYYYMMDD`` or "", flags ``true``/``false``."""

    short_desc: str = ""
    long_desc: str = ""
    add_dt: str = ""
    act_eff_dt: str = ""
    term_dt: str = ""
    obsolete: str = ""
    is_noc: str = ""

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> HcpcsRecord:
        """From a fallback CSV row (or any mapping with the record's field names)."""
        return cls(**{f.name: str(row.get(f.name) or "").strip() for f in fields(cls)})


def api_shaped(code: str, records: Sequence[HcpcsRecord]) -> list:
    """``[n, [codes], {ef: [...]}, [[code, display], …]]`` as the API answers (extra fields ``{}`` when none)."""

    def value(record: HcpcsRecord, name: str) -> str | bool:
        raw = getattr(record, name)
        return raw == "true" if name in FLAG_FIELDS else raw

    extra = {name: [value(r, name) for r in records] for name in RECORD_FIELDS} if records else {}
    return [len(records), [code] * len(records), extra, [[code, r.short_desc] for r in records]]


@dataclass(frozen=True)
class HcpcsResponse:
    """Where an answer came from and what it said; ``payload`` is the per-code ``[n, codes, ef, display]``."""

    url: str
    request_params: Mapping[str, Any]
    api_run_id: str
    requested_at_utc: str  # unix seconds, as a string
    payload: list | None = None
    raw: str | None = None  # as received; defaults to the payload as JSON


@dataclass(frozen=True)
class HcpcsResult:
    """One code's outcome: its records when ``ok``, else an empty row with the status and why."""

    code: str
    status: str
    records: tuple[HcpcsRecord, ...] = ()
    error_message: str = ""
    fetched_at_unix: int = field(default_factory=unix_now)
    response: HcpcsResponse | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"HCPCS status must be one of {STATUSES}, got {self.status!r}")
        if (self.status == "ok") != bool(self.records):
            raise ValueError(f"{self.code}: an ok result has records, any other none ({self.status}, {self.records})")

    def cache_rows(self) -> list[tuple]:
        if self.status == "ok":
            return [(self.code, *astuple(r), "ok", "", self.fetched_at_unix) for r in self.records]
        empty = astuple(HcpcsRecord())
        return [(self.code, *empty, self.status, self.error_message or self.status, self.fetched_at_unix)]

    def response_row(self) -> tuple | None:
        r = self.response
        if r is None:
            return None
        if isinstance(r.payload, list) and len(r.payload) >= 4:
            codes, extra, display = r.payload[1], r.payload[2] or {}, r.payload[3]
            parts = [*(to_json(extra.get(name, [])) for name in RECORD_FIELDS), *map(to_json, (codes, display, extra))]
        else:
            parts = [None] * (len(RECORD_FIELDS) + 3)
        raw = r.raw if r.raw is not None else (to_json(r.payload) if r.payload is not None else None)
        return (
            self.code,
            *parts,
            r.url,
            None if self.status == "ok" else self.error_message or self.status,
            r.api_run_id,
            r.requested_at_utc,
            to_json(r.request_params),
            raw,
        )


def fallback_index(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[HcpcsRecord]]:
    """Fallback CSV rows by upper-case code."""
    index: dict[str, list[HcpcsRecord]] = {}
    for row in rows:
        code = str(row.get("hcpcs_code") or "").strip().upper()
        if code:
            index.setdefault(code, []).append(HcpcsRecord.from_mapping(row))
    return index


def fallback_params(fallback_csv: str) -> dict[str, str]:
    return {"source": FALLBACK_SOURCE, "hcpcs_fallback_csv": fallback_csv}


class HcpcsCache(SqliteCache):
    """``hcpcs_code_cache.sqlite``: write results per API batch, seed from the fallback, export per dataset code."""

    DDL = DDL

    def upsert_results(self, results: Iterable[HcpcsResult]) -> int:
        """Replace the rows of each result's code, all in one transaction (pass one API batch); returns how
        many codes were written (an ``error`` for a settled code is skipped)."""
        written = 0
        with self._transaction() as conn:
            for result in results:
                if result.status == "error" and conn.execute(_HAS_ANSWER, (result.code,)).fetchone():
                    continue
                conn.execute(_DELETE_CODE, (result.code,))
                conn.executemany(_INSERT_ROW, result.cache_rows())
                if (row := result.response_row()) is not None:
                    conn.execute(_UPSERT_RESPONSE, row)
                written += 1
        return written

    def statuses(self, codes: Iterable[str]) -> dict[str, str]:
        """Status of each of ``codes`` (raw spellings) the cache holds; ``ok`` wins over ``not_found`` over ``error``."""
        sql = (
            f"SELECT w.id, min({STATUS_RANK}) FROM temp.wanted w "
            "JOIN hcpcs_cache c ON c.hcpcs_code = w.id COLLATE NOCASE GROUP BY w.id"
        )
        return {code: STATUSES[rank] for code, rank in self._query(sql, codes)}

    def status_counts(self) -> dict[str, int]:
        """Cached codes per status (the whole cache; a code with several records counts once)."""
        return dict(self._query("SELECT status, count(DISTINCT upper(hcpcs_code)) FROM hcpcs_cache GROUP BY status"))

    def settled(self, codes: Iterable[str]) -> set[str]:
        """Those of ``codes`` that need no request: ``ok`` or ``not_found`` (never ``error``)."""
        return {code for code, status in self.statuses(codes).items() if status in SETTLED}

    def to_fetch(self, codes: Iterable[str]) -> list[str]:
        """Distinct raw ``codes`` to request, sorted (the caller upper-cases them for the API)."""
        wanted = set(codes)
        return sorted(wanted - self.settled(wanted))

    def seed_from_fallback(
        self, codes: Iterable[str], fallback_rows: Iterable[Mapping[str, Any]], fallback_csv: str
    ) -> list[str]:
        """Write ``ok`` rows from the fallback for those of ``codes`` without an ``ok`` row; returns the codes written."""
        index = fallback_index(fallback_rows)
        codes = set(codes)
        done = {code.upper() for code, status in self.statuses(codes).items() if status == "ok"}
        return self._write_fallback(sorted(({c.upper() for c in codes} - done) & index.keys()), index, fallback_csv)

    def recheck_not_found(self, fallback_rows: Iterable[Mapping[str, Any]], fallback_csv: str) -> list[str]:
        """Turn cached ``not_found`` codes that the (newer) fallback knows into ``ok``; returns the codes written."""
        index = fallback_index(fallback_rows)
        cached = [code for (code,) in self._query("SELECT DISTINCT hcpcs_code FROM hcpcs_cache")]
        not_found = {code.upper() for code, status in self.statuses(cached).items() if status == "not_found"}
        return self._write_fallback(sorted(not_found & index.keys()), index, fallback_csv)

    def _write_fallback(self, codes: list[str], index: Mapping[str, list[HcpcsRecord]], fallback_csv: str) -> list[str]:
        run_id, now = new_api_run_id(), unix_now()
        url, params = f"{FALLBACK_SOURCE}:{fallback_csv}", fallback_params(fallback_csv)
        self.upsert_results(
            HcpcsResult(
                code,
                "ok",
                tuple(index[code]),
                fetched_at_unix=now,
                response=HcpcsResponse(url, params, run_id, str(now), api_shaped(code, index[code])),
            )
            for code in codes
        )
        return codes

    def mapping_rows(self, codes: Iterable[str] | None = None) -> Iterator[tuple]:
        """:data:`MAPPING_COLUMNS` of the ``ok`` rows by code, non-NOC first within a code (the original's order).

        Without ``codes``, every cached code as stored (the original); with them, their rows under those raw spellings.
        """
        columns = ", ".join(f"c.{name}" for name in MAPPING_COLUMNS[1:])
        if codes is None:
            sql = f"SELECT c.hcpcs_code, {columns} FROM hcpcs_cache c WHERE c.status = 'ok'"
            return self._snapshot(f"{sql} ORDER BY c.hcpcs_code, {RECORD_ORDER}")
        sql = (
            f"SELECT w.id, {columns} FROM temp.wanted w JOIN hcpcs_cache c ON c.hcpcs_code = w.id COLLATE NOCASE "
            f"WHERE c.status = 'ok' ORDER BY w.id, {RECORD_ORDER}"
        )
        return self._snapshot(sql, codes)

    def unresolved_rows(self, codes: Iterable[str]) -> Iterator[tuple]:
        """:data:`UNRESOLVED_COLUMNS` of those of ``codes`` cached ``not_found``/``error`` (no ``ok`` row), by code."""
        sql = (
            "SELECT w.id, c.status, c.error_message, c.fetched_at_unix FROM temp.wanted w "
            "JOIN hcpcs_cache c ON c.hcpcs_code = w.id COLLATE NOCASE "
            f"WHERE c.status IN {sql_in(UNRESOLVED_STATUSES)} AND NOT EXISTS (SELECT 1 FROM hcpcs_cache o "
            "WHERE o.hcpcs_code = w.id COLLATE NOCASE AND o.status = 'ok') ORDER BY w.id"
        )
        return self._snapshot(sql, codes)

    def parquet_rows(self, codes: Iterable[str], fallback_csv: str) -> Iterator[tuple]:
        """One row per distinct raw code, in :data:`PARQUET_COLUMNS` order, by upper-case code.

        ``ef_*`` and ``response_*`` come from the cached records (non-NOC first), url, run and raw answer from
        the newest response row; a code without one gets the fallback sentinel (``hcpcs_cache:<csv>``) and a
        payload shaped like the API's; a code the cache does not hold gets ``missing_cache``.
        """
        record_columns = ", ".join(f"c.{name}" for name in RECORD_FIELDS)
        rows_sql = (
            f"SELECT w.id, c.hcpcs_code, c.status, c.error_message, {record_columns} FROM temp.wanted w "
            "LEFT JOIN hcpcs_cache c ON c.hcpcs_code = w.id COLLATE NOCASE "
            f"ORDER BY upper(w.id), w.id, {STATUS_RANK}, {RECORD_ORDER}"
        )
        responses_sql = (
            "SELECT w.id, r.url, r.api_run_id, r.requested_at_utc, r.request_params_json, r.response_json_raw "
            "FROM temp.wanted w JOIN hcpcs_api_responses r ON r.hcpcs_code = w.id COLLATE NOCASE "
            "ORDER BY CAST(r.requested_at_utc AS INTEGER)"
        )
        with self._reader(codes) as conn:
            responses = {row[0]: row[1:] for row in conn.execute(responses_sql)}  # the newest last, so it wins
            for code, group in groupby(conn.execute(rows_sql), key=lambda row: row[0]):
                yield _parquet_row(code, list(group), responses.get(code), fallback_csv)


def _parquet_row(code: str, rows: list[tuple], response: tuple | None, fallback_csv: str) -> tuple:
    stored, status, error_message = rows[0][1:4]
    if stored is None:  # not in the cache
        return (code, *(["[]"] * 9), "{}", MISSING, MISSING, None, None, to_json({"source": MISSING}), "[0,[],{},[]]")
    records = [HcpcsRecord(*row[4:]) for row in rows if row[2] == "ok"]
    _, codes, extra, display = shaped = api_shaped(stored, records)
    if response is None:
        url, run_id, requested_at = f"{FALLBACK_SOURCE}:{fallback_csv}", None, None
        params, raw = to_json(fallback_params(fallback_csv)), to_json(shaped)
    else:
        url, run_id, requested_at, params, raw = response
    return (
        code,
        *(to_json(extra.get(name, [])) for name in RECORD_FIELDS),
        to_json(codes),
        to_json(display),
        to_json(extra),
        url,
        None if records else error_message or status,
        run_id,
        requested_at,
        params,
        raw,
    )

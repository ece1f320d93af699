"""The HCPCS cache: the original's schema, replace-all-rows writes, fallback seeding, export orders."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import astuple
from pathlib import Path

import pytest

from medicaid_assets.defs.reference.code_sets.fallback import COLUMNS as FALLBACK_COLUMNS
from medicaid_assets.defs.reference.resolution.hcpcs_cache import (
    MAPPING_COLUMNS,
    PARQUET_COLUMNS,
    HcpcsCache,
    HcpcsRecord,
    HcpcsResponse,
    HcpcsResult,
    api_shaped,
)

FALLBACK_CSV = "data/raw/cpt/cpt_hcpcs_fallback.csv"
ORIGINAL_COLUMNS = {
    "hcpcs_cache": [
        "hcpcs_code",
        "short_desc",
        "long_desc",
        "add_dt",
        "act_eff_dt",
        "term_dt",
        "obsolete",
        "is_noc",
        "status",
        "error_message",
        "fetched_at_unix",
    ],
    "hcpcs_api_responses": [
        "hcpcs_code",
        "ef_short_desc_json",
        "ef_long_desc_json",
        "ef_add_dt_json",
        "ef_act_eff_dt_json",
        "ef_term_dt_json",
        "ef_obsolete_json",
        "ef_is_noc_json",
        "response_codes_json",
        "response_display_json",
        "response_extra_fields_json",
        "url",
        "error_message",
        "api_run_id",
        "requested_at_utc",
        "request_params_json",
        "response_json_raw",
    ],
}
NOC = HcpcsRecord("Drug noc", "Drug not otherwise classified", "20000101", "20000101", "", "false", "true")
CURRENT = HcpcsRecord("Inj drug", "Injection, drug, 1 mg", "20200101", "20200101", "", "false", "false")
OLDER = HcpcsRecord("Inj drug old", "Injection, drug, 5 mg", "20100101", "20100101", "20191231", "true", "false")


def api_result(code: str, records: tuple[HcpcsRecord, ...], requested_at: int = 1_700_000_000) -> HcpcsResult:
    """A result as the API resolver writes it: the per-code slice of a batch answer."""
    payload = api_shaped(code, records)
    url = f"https://clinicaltables.nlm.nih.gov/api/hcpcs/v3/search?q=code:{code}"
    response = HcpcsResponse(url, {"q": f"code:{code}"}, "api-run-1", str(requested_at), payload)
    status = "ok" if records else "not_found"
    return HcpcsResult(code, status, records, fetched_at_unix=requested_at, response=response)


def fallback_row(code: str, short: str, **values: str) -> dict[str, str]:
    base = dict.fromkeys(FALLBACK_COLUMNS, "") | {"obsolete": "false", "is_noc": "false", "source_file": "PPRRVU"}
    return base | {"hcpcs_code": code, "short_desc": short} | values


def _rows(path: Path, code: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM hcpcs_cache WHERE hcpcs_code = ? COLLATE NOCASE", (code,)).fetchall()


def test_schema_is_the_originals(tmp_path: Path) -> None:
    path = tmp_path / "hcpcs_code_cache.sqlite"
    HcpcsCache(path).close()
    with sqlite3.connect(path) as conn:
        for table, columns in ORIGINAL_COLUMNS.items():
            assert [r[1] for r in conn.execute(f"PRAGMA table_info({table})")] == columns
        pk = [r[1] for r in sorted(conn.execute("PRAGMA table_info(hcpcs_cache)"), key=lambda r: r[5]) if r[5]]
        assert pk == ORIGINAL_COLUMNS["hcpcs_cache"][:9]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_results_validate_their_status() -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        HcpcsResult("J1234", "invalid")
    with pytest.raises(ValueError, match="an ok result has records"):
        HcpcsResult("J1234", "ok")


def test_a_write_replaces_every_row_of_the_code_whatever_its_case(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with HcpcsCache(path) as cache:
        assert cache.upsert_results([api_result("J1234", (CURRENT, NOC, OLDER)), api_result("J9999", (CURRENT,))]) == 2
        assert len(_rows(path, "J1234")) == 3
        cache.upsert_results([api_result("j1234", (CURRENT,), requested_at=1_700_000_500)])
        assert [r[0] for r in _rows(path, "J1234")] == ["j1234"]
        assert len(_rows(path, "J9999")) == 1  # other codes untouched
        cache.upsert_results([HcpcsResult("J9999", "not_found", error_message="not_found")])
        assert [r[8:10] for r in _rows(path, "J9999")] == [("not_found", "not_found")]


def test_errors_are_not_settled_and_never_replace_an_answer(tmp_path: Path) -> None:
    with HcpcsCache(tmp_path / "c.sqlite") as cache:
        cache.upsert_results([api_result("J1234", (CURRENT,)), api_result("A0001", ())])
        failed = HcpcsResult("Q0001", "error", error_message="HTTP 503")
        assert cache.upsert_results([failed, HcpcsResult("J1234", "error", error_message="HTTP 503")]) == 1
        codes = ["j1234", "J1234", "a0001", "Q0001", "X9999"]
        assert cache.statuses(codes) == {"j1234": "ok", "J1234": "ok", "a0001": "not_found", "Q0001": "error"}
        assert cache.settled(codes) == {"j1234", "J1234", "a0001"}
        assert cache.to_fetch(codes) == ["Q0001", "X9999"]
        assert list(cache.unresolved_rows(codes)) == [
            ("Q0001", "error", "HTTP 503", failed.fetched_at_unix),
            ("a0001", "not_found", "not_found", 1_700_000_000),
        ]


def test_seed_from_fallback_and_recheck_not_found(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with HcpcsCache(path) as cache:
        cache.upsert_results([api_result("J1234", (CURRENT,)), api_result("99213", ()), api_result("T1019", ())])
        cache.upsert_results([HcpcsResult("G0001", "error", error_message="HTTP 503")])
        fallback = [
            fallback_row("J1234", "From fallback"),  # already ok: untouched
            fallback_row("G0001", "Glucose test"),  # error: seeded
            fallback_row("99214", "Office visit est", long_desc="Office visit, established"),  # absent: seeded
            fallback_row("99213", "Office o/p est low 20 min"),  # not_found in the cache, not in this dataset
            fallback_row("A9999", "Not in the dataset"),
        ]
        seeded = cache.seed_from_fallback(["J1234", "g0001", "99214", "D0120"], fallback, FALLBACK_CSV)
        assert seeded == ["99214", "G0001"]
        assert [r[1] for r in _rows(path, "J1234")] == ["Inj drug"]
        assert cache.statuses(["g0001", "99214", "D0120", "99213"]) == {
            "g0001": "ok",
            "99214": "ok",
            "99213": "not_found",
        }
        assert cache.recheck_not_found(fallback, FALLBACK_CSV) == ["99213"]
        assert cache.statuses(["99213", "T1019"]) == {"99213": "ok", "T1019": "not_found"}
        rows = {r[0]: dict(zip(PARQUET_COLUMNS, r, strict=True)) for r in cache.parquet_rows(["99214"], FALLBACK_CSV)}
        seeded_row = rows["99214"]
        assert seeded_row["url"] == f"hcpcs_cache:{FALLBACK_CSV}"
        assert json.loads(seeded_row["request_params"]) == {"source": "hcpcs_cache", "hcpcs_fallback_csv": FALLBACK_CSV}
        assert seeded_row["api_run_id"].startswith("api-run-") and seeded_row["requested_at_utc"].isdigit()
        payload = json.loads(seeded_row["response_json"])
        assert payload[:2] == [1, ["99214"]]
        assert payload[2]["long_desc"] == ["Office visit, established"] and payload[2]["is_noc"] == [False]
        assert payload[3] == [["99214", "Office visit est"]]  # [code, display] pairs, not bare strings


def test_mapping_order_and_columns(tmp_path: Path) -> None:
    with HcpcsCache(tmp_path / "c.sqlite") as cache:
        cache.upsert_results(
            [
                api_result("J1234", (NOC, CURRENT, OLDER)),
                api_result("A0001", (CURRENT,)),
                api_result("B0001", ()),
            ]
        )
        assert MAPPING_COLUMNS == (
            "hcpcs_code",
            "short_desc",
            "long_desc",
            "add_dt",
            "act_eff_dt",
            "term_dt",
            "obsolete",
            "is_noc",
            "status",
            "fetched_at_unix",
        )
        rows = list(cache.mapping_rows())
        assert [(r[0], r[1]) for r in rows] == [
            ("A0001", "Inj drug"),
            ("J1234", "Inj drug old"),  # non-NOC first, then by act_eff_dt
            ("J1234", "Inj drug"),
            ("J1234", "Drug noc"),
        ]
        assert rows[0] == ("A0001", *astuple(CURRENT), "ok", 1_700_000_000)
        assert [r[0] for r in cache.mapping_rows(["j1234", "Z0000"])] == ["j1234"] * 3  # the dataset's spelling


def test_parquet_rows_one_per_dataset_code(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with HcpcsCache(path) as cache:
        cache.upsert_results([api_result("J1234", (NOC, CURRENT)), api_result("B0001", ())])
        cache.upsert_results([HcpcsResult("C0001", "error", error_message="HTTP 503")])
    with sqlite3.connect(path) as conn:  # an ok row as the original's fallback seeding left it: no response row
        conn.execute(
            "INSERT INTO hcpcs_cache VALUES ('A0001', 'Ambulance', '', '', '', '', 'false', 'false', 'ok', '', 5)"
        )
    with HcpcsCache(path) as cache:
        rows = [
            dict(zip(PARQUET_COLUMNS, r, strict=True))
            for r in cache.parquet_rows(["j1234", "b0001", "A0001", "C0001", "Z9999", "J1234"], FALLBACK_CSV)
        ]
    assert [r["hcpcs_code"] for r in rows] == ["A0001", "b0001", "C0001", "J1234", "j1234", "Z9999"]
    by_code = {r["hcpcs_code"]: r for r in rows}
    j = by_code["j1234"]
    assert json.loads(j["ef_short_desc"]) == ["Inj drug", "Drug noc"]  # non-NOC first
    assert json.loads(j["ef_is_noc"]) == [False, True] and json.loads(j["ef_term_dt"]) == ["", ""]
    assert json.loads(j["response_codes"]) == ["J1234", "J1234"]
    assert json.loads(j["response_display"]) == [["J1234", "Inj drug"], ["J1234", "Drug noc"]]
    assert list(json.loads(j["response_extra_fields"])) == [
        "short_desc",
        "long_desc",
        "add_dt",
        "act_eff_dt",
        "term_dt",
        "obsolete",
        "is_noc",
    ]
    assert j["url"].startswith("https://") and j["error_message"] is None and j["api_run_id"] == "api-run-1"
    assert json.loads(j["response_json"]) == api_shaped("J1234", (NOC, CURRENT))  # as the API answered it
    legacy = by_code["A0001"]
    assert (legacy["url"], legacy["api_run_id"]) == (f"hcpcs_cache:{FALLBACK_CSV}", None)
    assert json.loads(legacy["response_json"]) == [
        1,
        ["A0001"],
        {
            "short_desc": ["Ambulance"],
            "long_desc": [""],
            "add_dt": [""],
            "act_eff_dt": [""],
            "term_dt": [""],
            "obsolete": [False],
            "is_noc": [False],
        },
        [["A0001", "Ambulance"]],
    ]
    not_found, error, missing = by_code["b0001"], by_code["C0001"], by_code["Z9999"]
    assert not_found["error_message"] == "not_found" and not_found["ef_short_desc"] == "[]"
    assert not_found["response_extra_fields"] == "{}" and json.loads(not_found["response_json"]) == [0, [], {}, []]
    assert error["error_message"] == "HTTP 503" and error["url"] == f"hcpcs_cache:{FALLBACK_CSV}"
    assert missing["url"] == missing["error_message"] == "missing_cache"
    assert json.loads(missing["request_params"]) == {"source": "missing_cache"}

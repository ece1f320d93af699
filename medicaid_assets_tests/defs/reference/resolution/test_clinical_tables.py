"""Clinical Tables HCPCS requests and answers: hand-checked edge cases, the emulator, lookups over loopback."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import pytest

from medicaid_assets.core.fetcher import CallInfo, FetchReport, TransientError
from medicaid_assets.defs.reference.resolution.clinical_tables import (
    EXTRA_FIELDS,
    HcpcsOutcome,
    MalformedAnswer,
    answer_is_complete,
    batch_params,
    code_outcomes,
    load_answer,
    normalise_date,
    parse_answer,
    per_code_response,
    single_params,
)
from medicaid_assets.defs.reference.resolution.hcpcs_cache import HcpcsRecord
from medicaid_assets.defs.reference.resolution.resources import ClinicalTablesResource
from medicaid_assets.sample_world.code_universe import code_universe
from medicaid_assets.sample_world.hcpcs_api import hcpcs_api_response
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets.settings import Settings
from medicaid_assets_tests.conftest import TEST_SPEC

EF = "short_desc,long_desc,add_dt,term_dt,act_eff_dt,obsolete,is_noc"
UNIVERSE = code_universe(TEST_SPEC)
IN_API = {c.code: c for c in UNIVERSE if c.in_api}
MULTI = next(c for c in IN_API.values() if len(c.records) > 1)

# Two records of E0114 (one a NOC variant, dates and flags in other spellings), one of a code nobody asked for.
ANSWER = [
    3,
    ["E0114", "e0114", "A4206"],
    {
        "short_desc": ["Crutch underarm pair", "Crutch noc", "Syringe"],
        "long_desc": ["Crutches, underarm", "Crutch, not otherwise classified", "Syringe, sterile"],
        "add_dt": ["1984-01-01", "19900701", "2000/1/1"],
        "term_dt": ["", None, "20201231"],
        "act_eff_dt": [19840101, "2004.01.01", "20000101"],
        "obsolete": [False, "Y", "true"],
        "is_noc": ["0", True, "no"],
    },
    [["E0114", "Crutch underarm pair"], ["e0114", "Crutch noc"], ["A4206", "Syringe"]],
]


def test_batch_params_are_the_originals() -> None:
    params = batch_params(["e0114", "A4206", "99213"])
    assert params == {
        "terms": "",
        "sf": "code",
        "q": "code:(E0114 OR A4206 OR 99213)",
        "count": "500",
        "df": "code,display",
        "ef": EF,
    }
    expected = f"terms=&sf=code&q=code:(E0114 OR A4206 OR 99213)&count=500&df=code,display&ef={EF}"
    assert unquote_plus(urlencode(params)) == expected


def test_single_params_are_the_originals() -> None:
    params = single_params("e0114")
    assert unquote_plus(urlencode(params)) == f"terms=E0114&sf=code&q=code:E0114&count=20&df=code,display&ef={EF}"


def test_parse_keeps_every_record_of_a_requested_code() -> None:
    parsed = parse_answer(["e0114", "J9999"], ANSWER)
    assert parsed["J9999"] == []
    assert parsed["e0114"] == [
        HcpcsRecord("Crutch underarm pair", "Crutches, underarm", "19840101", "19840101", "", "false", "false"),
        HcpcsRecord("Crutch noc", "Crutch, not otherwise classified", "19900701", "20040101", "", "true", "true"),
    ]
    assert "A4206" not in parsed  # answered but not asked


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-01-31", "20200131"),
        ("2020/01/31", "20200131"),
        (20200131, "20200131"),
        ("2020/1/31", ""),
        (None, ""),
        ("", ""),
    ],
)
def test_dates(raw: object, expected: str) -> None:
    assert normalise_date(raw) == expected


def test_missing_extra_fields_and_short_arrays() -> None:
    no_extra = [2, ["E0114", "E0114"], None, [["E0114", "Crutch"]]]
    [first, second] = parse_answer(["E0114"], no_extra)["E0114"]
    assert (first.short_desc, first.add_dt, first.obsolete, first.is_noc) == ("", "", "false", "false")
    assert second.short_desc == ""
    assert per_code_response("E0114", no_extra) == [2, ["E0114", "E0114"], None, [["E0114", "Crutch"]]]
    short = [2, ["E0114", "E0114"], {"short_desc": ["Crutch"], "is_noc": [True]}, [["E0114", "Crutch"], "Crutch 2"]]
    [first, second] = parse_answer(["E0114"], short)["E0114"]
    assert (first.short_desc, first.is_noc, first.long_desc) == ("Crutch", "true", "")
    assert (second.short_desc, second.is_noc) == ("", "false")  # extra fields shorter than codes


def test_per_code_response_is_the_filtered_answer() -> None:
    assert per_code_response("A4206", ANSWER) == [
        1,
        ["A4206"],
        {f: [ANSWER[2][f][2]] for f in EXTRA_FIELDS},
        [["A4206", "Syringe"]],
    ]
    assert per_code_response("E0114", ANSWER)[:2] == [2, ["E0114", "e0114"]]
    assert per_code_response("J9999", ANSWER) == [0, [], {f: [] for f in EXTRA_FIELDS}, []]


def test_code_outcomes() -> None:
    outcomes = code_outcomes(["A4206", "j9999"], ANSWER)
    assert outcomes["A4206"].status == "ok" and outcomes["A4206"].records[0].term_dt == "20201231"
    assert (outcomes["A4206"].records[0].obsolete, outcomes["A4206"].records[0].is_noc) == ("true", "false")
    assert outcomes["j9999"] == HcpcsOutcome("j9999", "absent", (), [0, [], {f: [] for f in EXTRA_FIELDS}, []])


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Service temporarily unavailable</html>",
        b'[3, ["E0114"], null',
        b'{"total": 0}',
        b"[0, [], null]",
        b'["1", [], null, []]',
        b"[true, [], null, []]",
        b'[1, "E0114", null, []]',
        b"[1, [42], null, []]",
        b"[1, [], [], []]",
        b'[1, [], {"short_desc": "x"}, []]',
        b"[1, [], null, {}]",
    ],
)
def test_malformed_answers_are_transient_errors(body: bytes) -> None:
    with pytest.raises(MalformedAnswer) as info:
        load_answer(body)
    assert isinstance(info.value, TransientError) and repr(body[:10])[2:-1] in str(info.value)


def test_load_and_completeness() -> None:
    assert load_answer(json.dumps(ANSWER)) == ANSWER
    assert answer_is_complete(ANSWER) and not answer_is_complete([900, ["A4206"], None, [["A4206", "Syringe"]]])


def test_emulator_answers_match_the_world() -> None:
    asked = [*list(IN_API)[:20], MULTI.code.lower(), *[c.code for c in UNIVERSE if not c.in_api][:10]]
    answer = load_answer(json.dumps(hcpcs_api_response(TEST_SPEC, batch_params(asked))))
    for code, outcome in code_outcomes(asked, answer).items():
        known = IN_API.get(code.upper())
        assert outcome.status == ("ok" if known else "absent")
        expected = [] if known is None else known.records
        assert [
            (r.short_desc, r.long_desc, r.add_dt, r.act_eff_dt, r.term_dt, r.obsolete, r.is_noc)
            for r in outcome.records
        ] == [
            (
                e.short_desc,
                e.long_desc,
                e.add_dt,
                e.act_eff_dt,
                e.term_dt,
                str(e.obsolete).lower(),
                str(e.is_noc).lower(),
            )
            for e in expected
        ]
        assert outcome.response[0] == len(expected)


# -- lookups over loopback HTTP --------------------------------------------------------------------


def _api(base_url: str, **overrides: object) -> ClinicalTablesResource:
    fast = {"requests_per_second": 0, "concurrency": 2, "backoff_initial_seconds": 0.01, "round_delay_seconds": 0.01}
    return ClinicalTablesResource(base_url=base_url, **{**fast, **overrides})


def _lookup(
    api: ClinicalTablesResource, codes: list[str], **kwargs
) -> tuple[dict[str, tuple[HcpcsOutcome, CallInfo]], FetchReport]:
    out: dict[str, tuple[HcpcsOutcome, CallInfo]] = {}
    report = api.lookup(codes, lambda outcome, call: out.setdefault(outcome.code, (outcome, call)), **kwargs)
    return out, report


def test_lookup_in_batches(world: WorldControl, settings: Settings) -> None:
    codes = [c.code for c in UNIVERSE][:250]
    results, report = _lookup(_api(settings.hcpcs_api_url), codes)
    log = world.requests()
    assert len(log) == report.requests == math.ceil(len(codes) / 100)
    assert sorted(len(e["identifiers"]) for e in log) == [50, 100, 100]
    assert set(results) == set(codes) and report.succeeded == 250 and not report.not_attempted
    for code, (outcome, call) in results.items():
        assert outcome.status == ("ok" if code in IN_API else "absent")
        assert len(outcome.records) == (len(IN_API[code].records) if code in IN_API else 0)
        assert call.params["q"].startswith("code:(") and code in call.params["q"]


def test_failed_batch_falls_back_to_single_requests(world: WorldControl, settings: Settings) -> None:
    """A code the service cannot parse makes its batch fail (HTTP 400); each of its codes is then asked alone."""
    good = list(IN_API)[:3]
    other_batch = list(IN_API)[3:5]
    results, report = _lookup(_api(settings.hcpcs_api_url, batch_size=4), [*good, "A(1", *other_batch])
    assert [results[c][0].status for c in [*good, *other_batch]] == ["ok"] * 5
    assert results["A(1"][0].status == "error"
    assert (
        results["A(1"][0].error_message.startswith("HTTP 400: ")
        and "; batch request: HTTP 400" in results["A(1"][0].error_message
    )
    assert all(results[c][1].params["q"] == f"code:{c}" for c in good)
    assert results[other_batch[0]][1].params["q"] == f"code:({' OR '.join(other_batch)})"
    asked = sorted(str(e["identifiers"]) for e in world.requests())  # None: a query the server could not read
    assert asked == sorted(str(i) for i in [None, other_batch, *([c] for c in good), None])
    assert (report.requests, report.failed, report.statuses) == (6, 1, {"200": 4, "400": 2})


def test_lookup_recovers_from_faults(world: WorldControl, settings: Settings) -> None:
    codes = [c.code for c in UNIVERSE][:60]
    clean, _ = _lookup(_api(settings.hcpcs_api_url, batch_size=10), codes)
    world.set_faults(rate=0.3, kinds=["500", "drop", "truncate", "nonjson"], seed=5)
    faulty, report = _lookup(_api(settings.hcpcs_api_url, batch_size=10), codes)
    assert {c: o for c, (o, _) in faulty.items()} == {c: o for c, (o, _) in clean.items()}
    assert report.retries > 0 and report.requests == 6 + report.retries  # no batch needed single requests


def test_max_new_and_stop_count_codes(world: WorldControl, settings: Settings) -> None:
    codes = [c.code for c in UNIVERSE][:30]
    results, report = _lookup(_api(settings.hcpcs_api_url, batch_size=10), codes, max_new=15)
    assert set(results) == set(codes[:15]) and report.not_attempted == codes[15:] and report.requests == 2
    stop = threading.Event()
    stop.set()
    results, report = _lookup(_api(settings.hcpcs_api_url), codes, stop=stop)
    assert results == {} and report.not_attempted == codes and report.stopped and report.requests == 0


class _CutShort(BaseHTTPRequestHandler):
    """Answers a batch with one record and a ``total`` saying 900 matched; a single request in full."""

    def do_GET(self) -> None:
        q = dict(parse_qsl(urlsplit(self.path).query))["q"]
        codes = q.removeprefix("code:").strip("()").split(" OR ")
        total = 900 if len(codes) > 1 else 1
        body = json.dumps([total, codes[:1], None, [[codes[0], f"{codes[0]} item"]]]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def cut_short_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CutShort)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/search"
    server.shutdown()
    server.server_close()


def test_codes_missing_from_a_cut_short_page_are_asked_alone(cut_short_url: str) -> None:
    results, report = _lookup(_api(cut_short_url), ["A0001", "A0002", "A0003"])
    assert {c: o.status for c, (o, _) in results.items()} == {"A0001": "ok", "A0002": "ok", "A0003": "ok"}
    assert results["A0002"][1].params["q"] == "code:A0002" and report.requests == 3

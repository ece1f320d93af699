"""The Clinical Tables HCPCS v3 emulator, queried the way the pipeline queries it, over loopback HTTP."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from medicaid_assets.sample_world.code_universe import code_universe
from medicaid_assets.sample_world.hcpcs_api import EXTRA_FIELDS, HcpcsQueryError, query_codes
from medicaid_assets.sample_world.server import HCPCS_PATH, WorldServer
from medicaid_assets.sample_world.spec import WorldSpec

SPEC = WorldSpec(seed=3, scale=0.0001)
UNIVERSE = code_universe(SPEC)
API_CODES = [c for c in UNIVERSE if c.in_api]
MULTI = next(c for c in API_CODES if len(c.records) > 1)
DENTAL = next(c.code for c in UNIVERSE if c.kind == "cdt")
CPT = next(c.code for c in UNIVERSE if c.kind == "cpt" and c.code.isdigit())
LOOKS_LEVEL2 = next(c.code for c in UNIVERSE if c.kind == "level2_unknown")
EF = ",".join(EXTRA_FIELDS)


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory):
    world = tmp_path_factory.mktemp("world")
    (world / "world.json").write_text(json.dumps({"spec": {"seed": 3, "scale": 0.0001, "rows": None}}))
    (world / "files").mkdir()
    with WorldServer(world) as server:
        url = f"{server.base_url}{HCPCS_PATH}"

        def get(**params: str) -> httpx.Response:
            return httpx.get(url, params=params, timeout=10)

        yield get


def _batch(search, codes: list[str], count: str = "500") -> list:
    q = f"code:({' OR '.join(codes)})"
    response = search(terms="", sf="code", q=q, count=count, df="code,display", ef=EF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def test_batch_returns_only_requested_codes_the_api_knows(search) -> None:
    known = {c.code: c for c in [*API_CODES[:5], MULTI]}
    asked = [*known, DENTAL, CPT, LOOKS_LEVEL2, API_CODES[0].code.lower()]
    total, codes, extra, display = _batch(search, asked)
    assert set(codes) == set(known)
    assert total == len(codes) == len(display) == sum(len(c.records) for c in known.values())
    assert set(extra) == set(EXTRA_FIELDS)
    assert all(len(values) == len(codes) for values in extra.values())
    for i, (code, text) in enumerate(display):
        assert code == codes[i] and text == extra["short_desc"][i]
        assert re.fullmatch(r"\d{8}", extra["add_dt"][i]) and re.fullmatch(r"(\d{8})?", extra["term_dt"][i])
        assert isinstance(extra["obsolete"][i], bool) and isinstance(extra["is_noc"][i], bool)


def test_a_code_with_several_records_returns_each(search) -> None:
    total, codes, extra, _ = _batch(search, [MULTI.code])
    assert total == len(MULTI.records) == codes.count(MULTI.code) > 1
    assert extra["long_desc"] == [r.long_desc for r in MULTI.records]
    assert extra["is_noc"] == [r.is_noc for r in MULTI.records]


def test_single_code_query(search) -> None:
    code = API_CODES[3]
    response = search(terms=code.code, sf="code", q=f"code:{code.code}", count="20", df="code,display", ef=EF)
    total, codes, _, display = response.json()
    assert codes == [code.code] * len(code.records) and total == len(code.records)
    assert display[0] == [code.code, code.records[0].short_desc]
    assert search(terms=DENTAL, sf="code", q=f"code:{DENTAL}", count="20").json() == [0, [], None, []]


def test_count_offset_and_defaults(search) -> None:
    codes = [c.code for c in API_CODES[:10]]
    total, first, _, _ = _batch(search, codes, count="3")
    assert len(first) == 3 and total >= 10
    second = search(sf="code", q=f"code:({' OR '.join(codes)})", count="3", offset="3").json()[1]
    assert len(second) == 3 and second[0] != first[0]
    defaults = search(terms="").json()
    assert len(defaults[1]) == 7 and defaults[2] is None and all(len(row) == 2 for row in defaults[3])
    assert len(search(count="100000").json()[1]) == min(500, defaults[0])


def test_terms_match_word_prefixes(search) -> None:
    word = API_CODES[0].records[0].short_desc.split()[0]
    total, codes, _, display = search(terms=word[:4].lower(), count="500").json()
    assert total == len(codes) > 0
    assert all(any(w.lower().startswith(word[:4].lower()) for w in text.split()) for _, text in display)


def test_bad_requests_answer_400(search) -> None:
    for params in ({"q": "short_desc:knee"}, {"ef": "colour"}, {"count": "-1"}, {"q": "code:(A OR)"}):
        assert search(**params).status_code == 400


def test_query_codes_parses_the_pipeline_forms() -> None:
    assert query_codes("code:(a0021 OR G0101  OR  t1019)") == ["A0021", "G0101", "T1019"]
    assert query_codes("code:t1019") == ["T1019"]
    assert query_codes("") == []
    with pytest.raises(HcpcsQueryError):
        query_codes("code:(A0021 AND G0101)")

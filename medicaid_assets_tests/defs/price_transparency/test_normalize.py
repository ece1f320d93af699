"""The streaming normalizer on every real sample, with counts checked by hand and ids recomputed independently."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from medicaid_assets.defs.price_transparency import normalize
from medicaid_assets.defs.price_transparency.containers import UnsafeFileError, open_chunks, readahead
from medicaid_assets.defs.price_transparency.normalize import (
    RATES_SCHEMA,
    FileConfig,
    Normalizer,
    normalize_file,
    parse_date,
)
from medicaid_assets.defs.price_transparency.positions import ElementIndex
from medicaid_assets.defs.price_transparency.safety import UnsafeUrlError, check_url, fetch_bytes
from medicaid_assets.defs.price_transparency.stream import Elements, JsonShapeError, split_document
from medicaid_assets.defs.price_transparency.whitelist import load_whitelist
from medicaid_assets_tests.conftest import REFERENCE

CAREFIRST = REFERENCE / "tic_real_carefirst_in_network_remote_refs.json.gz"
WHITELIST = load_whitelist()


def _table(batches, name: str) -> pa.Table:
    """One table of the batches' tables; the rates as plain text (each batch codes its own dictionaries)."""
    parts = [getattr(b, name) for b in batches if getattr(b, name) is not None]
    if not parts:
        return pa.table({})
    table = pa.concat_tables(parts)
    return table.cast(RATES_SCHEMA) if name == "rates" else table


def _run(data: bytes, *, whitelist=None, chunk: int = 1 << 16, **config):
    chunks = (data[i : i + chunk] for i in range(0, len(data), chunk))
    batches, summary = normalize_file(
        chunks, FileConfig(payer="p", url="https://h/f.json", whitelist=whitelist, **config)
    )
    return _table(batches, "rates"), _table(batches, "providers"), _table(batches, "organizations"), summary


def _uuid5(name: str) -> str:
    digest = bytearray(hashlib.sha1(uuid.NAMESPACE_DNS.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def test_carefirst_counts_by_hand_and_float_ids_exact() -> None:
    data = gzip.decompress(CAREFIRST.read_bytes())
    doc = json.loads(data, parse_float=Decimal)
    refs = {str(r["provider_group_id"]) for r in doc["provider_references"]}
    assert len(doc["provider_references"]) == 370 and len(doc["in_network"]) == 1773
    assert "690.64470" in refs  # json's float would have made it 690.6447
    rates, _, _, summary = _run(data, chunk=1 << 20)
    assert (summary.provider_references, summary.items, rates.num_rows) == (370, 1773, 122_310)
    assert summary.remote_references == summary.remote_failed == 370  # no fetcher: recorded, not fatal
    used = {str(r) for i in doc["in_network"] for nr in i["negotiated_rates"] for r in nr["provider_references"]}
    assert set(rates.column("provider_group_ref").to_pylist()) == used
    assert used <= refs  # every id used joins a reference by its exact text
    assert set(rates.column("provider_resolution").to_pylist()) == {"remote_failed"}
    # every row's code, rate and reference, as an independent reading has them (price lists are decoded once per
    # distinct text: 2,727 of 122,310 here, so a wrong mapping would show)
    expect = Counter(
        (i["billing_code"], float(p["negotiated_rate"]), str(r))
        for i in doc["in_network"]
        for nr in i["negotiated_rates"]
        for p in nr["negotiated_prices"]
        for r in nr["provider_references"]
    )
    columns = ("billing_code", "negotiated_rate", "provider_group_ref")
    got = zip(*(rates.column(c).to_pylist() for c in columns), strict=True)
    assert Counter(got) == expect


def test_chunking_and_the_reader_thread_do_not_change_the_rows() -> None:
    """Chunk boundaries anywhere: inside items (an item across two chunks is parsed alone, without joining the
    windows), inside the ``"billing_code"`` keys the reader thread finds, and chunks smaller than one item."""
    data = gzip.decompress(CAREFIRST.read_bytes())
    whole = _run(data, whitelist=WHITELIST, chunk=len(data))
    assert whole[3].items_kept > 0
    for chunk in ((256 << 10) + 1, (1 << 20) - 3, (3 << 20) + 7, 10_007):
        got = _run(data, whitelist=WHITELIST, chunk=chunk)
        assert got[0].equals(whole[0]), chunk
        assert (got[3].items, got[3].prices_kept, got[3].prices_dropped) == (
            whole[3].items,
            whole[3].prices_kept,
            whole[3].prices_dropped,
        )


def _indexed_document(items: int) -> tuple[bytes, list[tuple[int, int, int]], list[int]]:
    """A document whose items hold brackets, quotes and escaped backslashes in strings, nested ``billing_code`` keys
    that are not the item's own, and a price count that varies; with each item's (start, end, prices) and the
    offsets of the items' own ``"billing_code"`` keys, taken as the document is assembled."""
    doc = bytearray(b'{"note":"[{\\\\\\"}]","in_network":[')
    elements, codes = [], []
    for i in range(items):
        if i:
            doc += b" ,\n"
        start = len(doc)
        doc += b'{"name":"a]}\\"[{\\\\","bundled_codes":[{"billing_code":"X"}],'
        codes.append(len(doc))
        doc += b'"billing_code" : "%d","negotiated_rates":[' % i
        prices = i % 4
        doc += b",".join(
            b'{"negotiated_prices":[{"negotiated_rate":1.5}],"n":"negotiated_rates"}' for _ in range(prices)
        )
        doc += b"]}"
        elements.append((start, len(doc), prices))
    doc += b'],"provider_references":[]}'
    return bytes(doc), elements, codes


def test_the_element_index_finds_ends_prices_and_own_codes_across_any_chunking() -> None:
    doc, elements, codes = _indexed_document(300)
    assert len(json.loads(doc)["in_network"]) == 300  # the test document itself is JSON
    for size in (1, 5, 13, 31, 32, 33, 100, 4096, len(doc)):
        index = ElementIndex()
        chunks = [doc[i : i + size] for i in range(0, len(doc), size)]
        assert b"".join(index.record(index.scan(chunks))) == doc
        assert [index.end_of(s) for s, _, _ in elements] == [e for _, e, _ in elements], size
        assert index.end_of(elements[5][0] + 1) is None  # no element starts there
        starts, counts, found = index.between(0, len(doc))
        assert starts.tolist() == [s for s, _, _ in elements], size
        assert counts.tolist() == [n for _, _, n in elements], size
        assert found.tolist() == codes, size
        assert index.failed_at is None


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b'{"a":[{"b":[1}]]}', "a bracket that does not match"),
        (b'{"a":[{"b":tru\xe2\x82\xac}]}', "a byte that is not JSON"),
    ],
)
def test_the_element_index_stops_at_what_is_not_json(bad: bytes, reason: str) -> None:
    index = ElementIndex()
    assert b"".join(index.record(index.scan([bad[:7], bad[7:]]))) == bad
    assert index.failed_at == bad.index(b"}" if b"[1}" in bad else b"\xe2")
    with pytest.raises(JsonShapeError, match=reason):
        index.check(len(bad))


def test_threads_get_the_gil_back_sooner_while_a_file_is_read_and_the_interval_comes_back() -> None:
    doc = b'{"provider_references":[],"in_network":[{"billing_code_type":"CPT","billing_code":"1"}]}'
    before = sys.getswitchinterval()
    seen = [sys.getswitchinterval() for _ in Normalizer(FileConfig("p", "https://x.example/in.json", None)).run([doc])]
    assert seen and all(s == min(before, 0.0005) for s in seen)
    assert sys.getswitchinterval() == before
    run = Normalizer(FileConfig("p", "https://x.example/in.json", None)).run([doc])
    next(run)
    run.close()  # left early (an error downstream, a stop): restored too
    assert sys.getswitchinterval() == before


def test_readahead_raises_the_readers_error_and_stops_the_reader_when_left() -> None:
    closed = threading.Event()

    def chunks(fail_at: int | None) -> Iterator[bytes]:
        try:
            for i in range(1000):
                if i == fail_at:
                    raise UnsafeFileError(f"chunk {i}: too large")
                yield b"x" * 10
        finally:
            closed.set()

    with pytest.raises(UnsafeFileError, match="chunk 3: too large"):
        list(readahead(chunks(3)))
    closed.clear()
    reader = readahead(chunks(None))
    assert next(reader) == b"x" * 10
    reader.close()  # the consumer leaves early: the reader thread closes the source and ends
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "readahead"]


def test_carefirst_whitelist_keeps_only_listed_codes() -> None:
    rates, _, _, summary = _run(gzip.decompress(CAREFIRST.read_bytes()), whitelist=WHITELIST, chunk=1 << 20)
    doc = json.loads(gzip.decompress(CAREFIRST.read_bytes()))
    expect = sum(
        len(nr["negotiated_prices"])
        for i in doc["in_network"]
        if i["billing_code"] in WHITELIST.cpt
        for nr in i["negotiated_rates"]
    )
    assert rates.num_rows == summary.prices_kept == expect > 0
    assert summary.prices_kept + summary.prices_dropped == 122_310
    assert set(rates.column("billing_code").to_pylist()) <= WHITELIST.cpt


def test_chunk_size_does_not_change_the_rows() -> None:
    data = (REFERENCE / "tic_edgecase_refs_after_in_network_dolthub.json").read_bytes()
    whole = _run(data, chunk=len(data))[0]
    for chunk in (1, 7, 64):
        assert _run(data, chunk=chunk)[0].equals(whole)


def test_output_batch_size_does_not_change_the_rows() -> None:
    """Rows gather across split batches into output batches of ``batch_rows``; any size gives the same tables,
    also when the items are spooled and replayed (references after ``in_network``), and when each batch names
    another few of the file's provider groups (UHC's in-file groups: a batch's columns hold only its own)."""
    edge = (REFERENCE / "tic_edgecase_refs_after_in_network_dolthub.json").read_bytes()
    carefirst = gzip.decompress(CAREFIRST.read_bytes())
    uhc = gzip.decompress((REFERENCE / "tic_real_uhc_tpa_in_network_excerpt.json.gz").read_bytes())
    for data, whitelist, small in ((edge, None, 1), (carefirst, WHITELIST, 1000), (uhc, None, 3)):
        default = _run(data, whitelist=whitelist, chunk=1 << 20)
        tiny = _run(data, whitelist=whitelist, chunk=1 << 20, batch_rows=small)
        for got, want in zip(tiny[:3], default[:3], strict=True):
            assert got.equals(want)
        assert tiny[3].prices_kept == default[3].prices_kept and tiny[3].rate_rows == default[3].rate_rows > 0


def test_rows_are_the_same_when_the_caches_of_decoded_lists_are_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Price and reference lists are decoded once per file while the caches' budget lasts and again after it is
    spent (memory stays bounded on files of many long, distinct lists): the rows do not change."""
    carefirst = gzip.decompress(CAREFIRST.read_bytes())
    uhc = gzip.decompress((REFERENCE / "tic_real_uhc_tpa_in_network_excerpt.json.gz").read_bytes())
    for data in (carefirst, uhc):
        default = _run(data, chunk=1 << 20)
        with monkeypatch.context() as patch:
            patch.setattr(normalize, "_CACHE_BYTES", 0)
            spent = _run(data, chunk=1 << 20)
        for got, want in zip(spent[:3], default[:3], strict=True):
            assert got.equals(want)
        assert default[0].num_rows > 1000


def _edge_rows(data: bytes) -> list[tuple]:
    rates = _run(data)[0]
    cols = ["billing_code", "negotiated_rate", "provider_group_ref", "tin_value", "npi_count", "provider_resolution"]
    return sorted((tuple(r[c] for c in cols) for r in rates.to_pylist()), key=repr)


def test_refs_after_in_network_equals_the_in_order_file() -> None:
    data = (REFERENCE / "tic_edgecase_refs_after_in_network_dolthub.json").read_bytes()
    doc = json.loads(data)
    in_order = json.dumps({"provider_references": doc["provider_references"], **doc}).encode()
    rows = _edge_rows(data)
    assert rows == _edge_rows(in_order)
    _, _, _, summary = _run(data)
    assert summary.refs_after_in_network
    # rate 1: refs 0 and 1 (one group each) + 2 inline groups = 4 rows; rate 2: ref 2 (remote, not fetched)
    # + 1 inline; rate 3: 1 inline group
    assert len(rows) == 7
    assert ("0000", 9999999.99, "0", "9999999999", 2, "in_file") in rows
    assert ("1111", 9999999.99, "2", None, None, "remote_failed") in rows


def test_v1_and_v2_examples_yield_the_same_rows_for_the_same_content() -> None:
    v2 = json.loads((REFERENCE / "tic_v2_in_network_rates_ffs_single_plan_example.json").read_bytes())
    v1 = json.loads(json.dumps(v2))
    v1["version"] = "1.0.0"
    # v1 carried the groups inline in each negotiated rate; v2 points at in-file references
    groups = {r["provider_group_id"]: r["provider_groups"] for r in v1.pop("provider_references")}
    for item in v1["in_network"]:
        for nr in item["negotiated_rates"]:
            nr["provider_groups"] = [g for rid in nr.pop("provider_references") for g in groups[rid]]
    cols = ["billing_code", "negotiated_rate", "billing_class", "tin_value", "provider_group_uuid", "organization_uuid"]

    def rows(doc: dict) -> list[tuple]:
        return sorted((tuple(r[c] for c in cols) for r in _run(json.dumps(doc).encode())[0].to_pylist()), key=repr)

    assert rows(v1) == rows(v2) and len(rows(v2)) > 0


@pytest.mark.parametrize(
    ("name", "items", "rows"),
    [
        ("tic_v1_in_network_rates_ffs_single_plan_example.json", 2, None),
        ("tic_v1_in_network_rates_multiple_plans_example.json", None, None),
        ("tic_v1_in_network_rates_no_npi_example.json", None, None),
        ("tic_v2_in_network_rates_all_negotiated_types_example.json", None, None),
        ("tic_v2_in_network_rates_bundle_example.json", None, None),
        ("tic_v2_in_network_rates_capitation_example.json", None, None),
        ("tic_v2_in_network_rates_multiple_plans_example.json", None, None),
        ("tic_v2_in_network_rates_no_npi_example.json", None, None),
        ("tic_real_dean_health_in_network_excerpt.json", 2, 2),
    ],
)
def test_every_example_parses_with_the_counts_of_an_independent_reading(name: str, items, rows) -> None:
    data = (REFERENCE / name).read_bytes()
    doc = json.loads(data, parse_float=Decimal)
    rates, _, _, summary = _run(data)
    assert summary.items == len(doc["in_network"]) == (items or len(doc["in_network"]))
    prices = sum(len(nr["negotiated_prices"]) for i in doc["in_network"] for nr in i["negotiated_rates"])
    assert summary.prices_kept == prices
    assert rates.num_rows >= prices and (rows is None or rates.num_rows == rows)


def test_dean_non_iso_date_and_empty_modifier() -> None:
    rates, _, _, summary = _run((REFERENCE / "tic_real_dean_health_in_network_excerpt.json").read_bytes())
    assert summary.header["last_updated_on"] == "10/25/2022"
    assert str(parse_date(summary.header["last_updated_on"])) == "2022-10-25"
    assert rates.column("billing_code_modifiers").to_pylist() == [[""], [""]]
    assert str(parse_date("2025-06-23T00:00:00-05:00")) == "2025-06-23"
    assert str(parse_date("2022-08-5")) == "2022-08-05"


def _evry_document() -> bytes:
    lines = gzip.decompress((REFERENCE / "tic_real_evry_health_in_network_2025_excerpt.jsonl.gz").read_bytes())
    first, *items = lines.decode().splitlines()
    return (first + ",".join(items) + "]}").encode()


def test_evry_inline_groups_string_npis_and_tin_type_npi() -> None:
    data = _evry_document()
    doc = json.loads(data)
    rates, providers, orgs, summary = _run(data)
    assert summary.items == 8 and summary.header["version"] == "1"
    expect = sum(
        len(nr["negotiated_prices"]) * len(nr["provider_groups"])
        for i in doc["in_network"]
        for nr in i["negotiated_rates"]
    )
    assert rates.num_rows == expect
    npis = {
        str(n)
        for i in doc["in_network"]
        for nr in i["negotiated_rates"]
        for g in nr["provider_groups"]
        for n in g["npi"]
    }
    assert set(providers.column("npi").to_pylist()) == npis
    assert set(orgs.column("tin_type").to_pylist()) == {"npi"}
    assert set(rates.column("provider_resolution").to_pylist()) == {"inline"}


def test_uhc_tpa_in_file_references_and_ms_drg_codes() -> None:
    data = gzip.decompress((REFERENCE / "tic_real_uhc_tpa_in_network_excerpt.json.gz").read_bytes())
    doc = json.loads(data)
    rates, _, _, summary = _run(data, chunk=1 << 14)
    assert summary.items == len(doc["in_network"]) == 902
    groups = {r["provider_group_id"]: r["provider_groups"] for r in doc["provider_references"]}
    expect = sum(
        len(nr["negotiated_prices"]) * sum(len(groups[r]) for r in nr["provider_references"])
        for i in doc["in_network"]
        for nr in i["negotiated_rates"]
    )
    assert rates.num_rows == expect
    assert set(rates.column("provider_resolution").to_pylist()) == {"in_file"}
    kept = _run(data, whitelist=WHITELIST)[0]
    drg = {
        (t, c)
        for t, c in zip(
            kept.column("billing_code_type").to_pylist(), kept.column("billing_code").to_pylist(), strict=True
        )
        if t == "MS-DRG"
    }
    assert drg and {c.lstrip("0") for _, c in drg} <= {"460", "470", "473", "743"}


def test_ids_equal_the_originals_recipes_computed_independently() -> None:
    data = _evry_document()
    rates, providers, orgs, _ = _run(data)
    payer = _uuid5("payer:p:")
    row = rates.to_pylist()[0]
    org = _uuid5(f"org:{row['tin_value']}:")
    assert row["payer_uuid"] == payer and row["organization_uuid"] == org
    for row in rates.to_pylist():  # every row: the ids are hashed a column at a time
        org = row["organization_uuid"] or ""
        assert row["rate_uuid"] == _uuid5(
            f"rate:{payer}:{org}:{row['billing_code']}:{float(row['negotiated_rate'])}:{row['expiration_date']}"
        )
    for p in providers.to_pylist():
        assert p["provider_uuid"] == _uuid5(f"provider:{p['npi']}")
    for o in orgs.to_pylist():
        assert o["organization_uuid"] == _uuid5(f"org:{o['tin_value']}:")


def _item(code_type: str, code: str) -> str:
    return json.dumps(
        {
            "negotiation_arrangement": "ffs",
            "name": "x",
            "billing_code_type": code_type,
            "billing_code_type_version": "2024",
            "billing_code": code,
            "description": "x",
            "negotiated_rates": [
                {
                    "provider_groups": [{"npi": [1234567893], "tin": {"type": "ein", "value": "1"}}],
                    "negotiated_prices": [
                        {
                            "negotiated_type": "negotiated",
                            "negotiated_rate": 10,
                            "expiration_date": "9999-12-31",
                            "billing_class": "professional",
                        }
                    ],
                }
            ],
        }
    )


def test_whitelist_restores_zeros_and_matches_drgs_only_against_ms_drg() -> None:
    items = [
        ("CPT", "01960"),
        ("CPT", "1960"),
        ("MS-DRG", "470"),
        ("MS-DRG", "0470"),
        ("CPT", "00470"),
        ("CPT", "470"),
        ("HCPCS", "J1745"),
        ("RC", "0450"),
    ]
    data = ('{"version":"1.0.0","in_network":[' + ",".join(_item(*i) for i in items) + "]}").encode()
    rates, _, _, summary = _run(data, whitelist=WHITELIST)
    kept = sorted(
        zip(rates.column("billing_code_type").to_pylist(), rates.column("billing_code").to_pylist(), strict=True)
    )
    assert kept == [("CPT", "01960"), ("HCPCS", "J1745"), ("MS-DRG", "0470"), ("MS-DRG", "470")]
    assert summary.prices_dropped == 4


def test_malformed_json_names_the_byte() -> None:
    with pytest.raises(JsonShapeError, match="byte"):
        list(split_document([b'{"in_network":[{"a":1},{"b":}]}']))
    with pytest.raises(JsonShapeError, match="ends inside"):
        list(split_document([b'{"in_network":[{"a":1},']))
    with pytest.raises(JsonShapeError, match="not a JSON object"):
        list(split_document([b"<html>"]))
    elements = [e for e in split_document([b'{"in_network":[]}']) if isinstance(e, Elements)]
    assert elements == []
    huge = b'{"in_network":[{"a":1},{"a":"' + b"x" * 5000 + b'"}]}'
    for size in (100, 3000):  # the item grows over many chunks, or runs past one chunk
        with pytest.raises(JsonShapeError, match="at byte 23 exceeds 1,000 bytes"):
            list(split_document([huge[i : i + size] for i in range(0, len(huge), size)], max_element_bytes=1000))


def test_an_item_breaking_the_schema_names_its_index_and_field() -> None:
    item = b'{"negotiation_arrangement":"ffs","billing_code_type":"CPT","billing_code":"%d","negotiated_rates":%s}'
    doc = b'{"provider_references":[],"in_network":[' + item % (1, b"[]") + b"," + item % (2, b'"oops"') + b"]}"
    with pytest.raises(JsonShapeError, match=re.escape("in_network item 1 (counted from 0) is not a valid item")) as e:
        normalize_file([doc], FileConfig(payer="p", url="https://x.example/in.json", whitelist=None))
    assert "negotiated_rates is not an array" in str(e.value)


def test_reference_lists_however_written_resolve_alike_and_a_bad_one_names_its_item() -> None:
    """Reference lists are split into ids once per distinct text: the same ids spaced differently resolve the same,
    ``[]``, ``null`` and none given are rows without a provider group, and inline groups add to the references."""
    refs = b'{"provider_group_id":1,"provider_groups":[{"npi":[1234567893],"tin":{"type":"ein","value":"11"}}]}'
    price = (
        b'"negotiated_prices":[{"negotiated_type":"negotiated","negotiated_rate":%d,"expiration_date":"9999-12-31"}]'
    )
    inline = b'"provider_groups":[{"npi":[1457483562],"tin":{"type":"ein","value":"22"}}]'
    rates = [b"[1]", b"[ 1 ]", b"[]", b"null", None, b"[1, 7]"]
    nrs = [
        b"{" + (b"" if r is None else b'"provider_references":' + r + b",") + price % (10 + k) + b"}"
        for k, r in enumerate(rates)
    ] + [b'{"provider_references":[1],' + inline + b"," + price % 99 + b"}"]
    item = b'{"billing_code_type":"CPT","billing_code":"99213","negotiated_rates":[' + b",".join(nrs) + b"]}"
    doc = b'{"provider_references":[' + refs + b'],"in_network":[' + item + b"]}"
    got = _run(doc)[0].sort_by([("negotiated_rate", "ascending"), ("provider_resolution", "ascending")])
    rows = list(zip(*(got[c].to_pylist() for c in ("negotiated_rate", "provider_group_ref", "provider_resolution", "tin_value")), strict=True))  # fmt: skip
    assert rows == [
        (10.0, "1", "in_file", "11"),
        (11.0, "1", "in_file", "11"),
        (12.0, None, "none", None),
        (13.0, None, "none", None),
        (14.0, None, "none", None),
        (15.0, "1", "in_file", "11"),
        (15.0, "7", "unknown_reference", None),
        (99.0, "1", "in_file", "11"),
        (99.0, None, "inline", "22"),
    ]
    bad = item.replace(b'"provider_references":[ 1 ]', b'"provider_references":"1"')
    with pytest.raises(JsonShapeError, match=re.escape("in_network item 0 (counted from 0) is not a valid item")):
        _run(b'{"provider_references":[' + refs + b'],"in_network":[' + bad + b"]}")


@pytest.mark.parametrize(
    ("rate", "where"),
    [
        (b'{"negotiated_prices":[{"negotiated_rate":tru}],"provider_references":[1]}', "negotiated_prices"),
        (b'{"negotiated_prices":[{"negotiated_rate":1,"service_code":"24"}]}', "negotiated_prices"),  # not a list
        (
            b'{"negotiated_prices":[{"negotiated_rate":1}],"provider_references":[1],"provider_groups":7}',
            "provider_groups",
        ),
    ],
)
def test_a_bad_list_in_a_kept_item_names_the_item_the_rate_and_the_list(rate: bytes, where: str) -> None:
    """Each distinct list is decoded once, typed: a fault in one fails the file naming where it sits (the same list
    in an earlier, dropped item does not hide it)."""
    good = b'{"negotiated_prices":[{"negotiated_rate":1}],"provider_references":[1]}'
    item = b'{"billing_code_type":"CPT","billing_code":"%s","negotiated_rates":[' + good + b"," + rate + b"]}"
    doc = b'{"provider_references":[],"in_network":[' + item % b"00000" + b"," + item % b"99213" + b"]}"
    message = f"in_network item 1 (counted from 0) is not a valid item: negotiated_rates[1].{where}: "
    with pytest.raises(JsonShapeError, match=re.escape(message)):
        _run(doc, whitelist=WHITELIST)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b'{"billing_code":"1","x":[1}]}', "a bracket that does not match at byte 1"),  # an item the whitelist drops
        (b'{"billing_code":"1","x":@}', "(malformed JSON in the value|a byte that is not JSON) at byte 1"),
        (b'{"billing_code":"1","x":' + b"[" * 1100 + b"]" * 1100 + b"}", "nested too deeply"),
        (
            b'{"billing_code_type":"CPT","billing_code":"99213","negotiated_rates":tru}',
            "item 1 .*JSON is malformed",
        ),  # one kept
    ],
)
@pytest.mark.parametrize("chunk", [7, 1 << 16])
def test_a_malformed_item_fails_the_file_with_the_byte_kept_or_dropped(bad: bytes, message: str, chunk: int) -> None:
    good = b'{"billing_code_type":"CPT","billing_code":"99999","negotiated_rates":[]}'
    doc = b'{"provider_references":[],"in_network":[' + good + b"," + bad + b"]}"
    with pytest.raises(JsonShapeError, match=message):  # the byte: the scan's, or msgspec's once it has the value
        _run(doc, whitelist=WHITELIST, chunk=chunk)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(0.3)
            self.path = self.path[len("/slow") :]
        super().do_GET()


@pytest.fixture
def ref_server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "ok.json").write_text(
        json.dumps({"provider_groups": [{"npi": [1234567893], "tin": {"type": "ein", "value": "9"}}]})
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_remote_references_fetched_once_a_404_recorded_and_the_file_completes(ref_server: str) -> None:
    calls: list[str] = []
    client = httpx.Client(timeout=5)

    def fetch(url: str) -> bytes:
        calls.append(url)
        return fetch_bytes(client, url, max_bytes=1 << 20, allow_private=True)

    doc = {
        "version": "1.0.0",
        "provider_references": [
            {"provider_group_id": 1.10, "location": f"{ref_server}/ok.json"},
            {"provider_group_id": 2, "location": f"{ref_server}/ok.json"},
            {"provider_group_id": 3, "location": f"{ref_server}/slow/ok.json"},
            {"provider_group_id": 4, "location": f"{ref_server}/missing.json"},
        ],
        "in_network": [json.loads(_item("CPT", "99213"))],
    }
    doc["in_network"][0]["negotiated_rates"][0] = {
        "provider_references": [1, 2, 3, 4],
        "negotiated_prices": doc["in_network"][0]["negotiated_rates"][0]["negotiated_prices"],
    }
    data = json.dumps(doc).encode().replace(b'"provider_group_id": 1.1', b'"provider_group_id": 1.10')
    data = data.replace(b'"provider_references": [1, 2', b'"provider_references": [1.10, 2')
    rates, _, _, summary = _run(data, fetch=fetch, fetch_concurrency=2)
    assert sorted(calls) == sorted(
        {f"{ref_server}/ok.json", f"{ref_server}/slow/ok.json", f"{ref_server}/missing.json"}
    )
    assert summary.remote_failed == 1 and "404" in summary.reference_errors[0]["error"]
    assert summary.reference_errors[0]["provider_group_id"] == "4"
    got = {r["provider_group_ref"]: (r["provider_resolution"], r["tin_value"]) for r in rates.to_pylist()}
    assert got == {"1.10": ("remote", "9"), "2": ("remote", "9"), "3": ("remote", "9"), "4": ("remote_failed", None)}


def test_unsafe_urls_are_refused() -> None:
    for url, why in [
        ("file:///etc/passwd", "only http"),
        ("ftp://example.com/x", "only http"),
        ("http://127.0.0.1/x", "private"),
        ("http://169.254.169.254/latest/meta-data", "private"),
        ("http://10.0.0.1/x", "private"),
        ("http://user:pw@example.com/x", "credentials"),
    ]:
        with pytest.raises(UnsafeUrlError, match=why):
            check_url(url)
    check_url("http://127.0.0.1/x", allow_private=True)


def test_containers_gzip_zip_and_limits(tmp_path: Path) -> None:
    import zipfile

    from medicaid_assets.defs.price_transparency.containers import Limits

    data = (REFERENCE / "tic_real_dean_health_in_network_excerpt.json").read_bytes()
    (tmp_path / "a.json").write_bytes(data)
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(data[:500]) + gzip.compress(data[500:]))  # two members
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("in_network.json", data)
    for name in ("a.json", "a.json.gz", "a.zip"):
        assert b"".join(open_chunks(tmp_path / name, chunk_size=100)) == data
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b" " * (8 << 20)))
    with pytest.raises(UnsafeFileError, match=r"bomb\.json\.gz.*decompression-bomb"):
        b"".join(open_chunks(bomb, Limits(max_ratio=50, ratio_grace_bytes=1 << 20)))
    with pytest.raises(UnsafeFileError, match=r"a\.json: more than 100 bytes"):
        b"".join(open_chunks(tmp_path / "a.json", Limits(max_json_bytes=100)))
    (tmp_path / "x.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\0" * 10)
    with pytest.raises(UnsafeFileError, match="7z"):
        b"".join(open_chunks(tmp_path / "x.7z"))


def test_structure_analysis_reads_only_the_first_items_and_names_the_shape() -> None:
    from medicaid_assets.defs.price_transparency.structure import analyze

    data = gzip.decompress(CAREFIRST.read_bytes())
    shape = analyze((data[i : i + (1 << 16)] for i in range(0, len(data), 1 << 16)), max_items=5)
    assert shape["items_read"] == 5 and shape["remote_references"] == shape["float_reference_ids"] == 370
    assert shape["references_before_in_network"] and shape["generation"] == "v1"
    dean = analyze([(REFERENCE / "tic_real_dean_health_in_network_excerpt.json").read_bytes()])
    assert dean["last_updated_on_format"] == "MM/DD/YYYY" and dean["billing_code_types"] == {"MS-DRG": 2}
    nested = (
        b'{"version":"1.0.0","in_network":['
        + _item("CPT", "99213").replace('"npi": [1234567893]', '"providers": [{"npi": 1234567893}]').encode()
        + b"]}"
    )
    assert analyze([nested])["handler"] == "nested_providers"
    rates, providers, _, _ = _run(nested, handler="nested_providers")
    assert providers.column("npi").to_pylist() == ["1234567893"] and rates.column("npi_count").to_pylist() == [1]

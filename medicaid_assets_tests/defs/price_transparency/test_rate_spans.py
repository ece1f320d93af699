"""The compiled rate walk (``rate_spans.py``) against an independent reading of the same items with ``json``."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from medicaid_assets.defs.price_transparency.rate_spans import rate_spans
from medicaid_assets.defs.price_transparency.stream import JsonShapeError

PRICES = [
    '[{"negotiated_type":"negotiated","negotiated_rate":76.21,"expiration_date":"9999-12-31"}]',
    '[ {"negotiated_rate": 12, "service_code": ["11", "22"], "billing_class": "professional"} ]',
    '[{"negotiated_rate":1,"additional_information":"a \\"quoted\\" ] } [ { note\\\\"}]',
    "[]",
    "null",
]
REFS = ["[690.65659]", "[1, 2]", "[ 1 , 2 ]", "[]", "null", '["a\\"b"]']
GROUPS = ['[{"npi":[1234567893],"tin":{"type":"ein","value":"1"}}]', "[]", "null"]


def _rate(rng: random.Random) -> str:
    members = []
    if rng.random() < 0.9:
        members.append(f'"negotiated_prices": {rng.choice(PRICES)}')
    if rng.random() < 0.8:
        members.append(f'"provider_references":{rng.choice(REFS)}')
    if rng.random() < 0.2:
        members.append(f'"provider_groups" :\n{rng.choice(GROUPS)}')
    if rng.random() < 0.3:  # the same names deeper down are not the rate's own
        members.append('"other": {"negotiated_prices": [1], "provider_references": [9], "x": "}]"}')
    rng.shuffle(members)
    return "{" + ", ".join(members) + "}"


def _item(rng: random.Random, n: int) -> str:
    rates = "[" + ",\n\t".join(_rate(rng) for _ in range(n)) + "]" if n else rng.choice(["[]", "null", "[ ]"])
    members = [
        '"billing_code_type":"CPT"',
        f'"billing_code":"{rng.randint(10000, 99999)}"',
        '"name":"a name with \\"negotiated_rates\\": [ in it"',
        f'"negotiated_rates" : {rates}',
    ]
    rng.shuffle(members)
    return " { " + " , ".join(members) + " } "


def test_every_rates_lists_and_equal_texts_match_an_independent_reading() -> None:
    rng = random.Random(7)
    items = [_item(rng, rng.choice([0, 1, 2, 5, 40])) for _ in range(300)]
    buf = ("[" + ",".join(items) + "]").encode()
    starts, ends, at = [], [], 1
    for text in items:
        starts.append(at)
        ends.append(at + len(text.encode()))
        at = ends[-1] + 1
    found = rate_spans(buf, np.asarray(starts), np.asarray(ends), list(range(len(items))))

    expected = []  # (item, prices, refs, groups) as json reads them
    for k, text in enumerate(items):
        item = json.loads(text)
        span = found.rates_span[k]
        assert json.loads(buf[span[0] : span[1]]) == item["negotiated_rates"]
        expected += [
            (k, r.get("negotiated_prices"), r.get("provider_references"), r.get("provider_groups"))
            for r in item["negotiated_rates"] or []
        ]
    assert found.item.tolist() == [k for k, *_ in expected]

    def texts(spans: np.ndarray) -> list[bytes | None]:
        return [None if s < 0 else buf[s:e] for s, e in spans.tolist()]

    for spans, column in ((found.prices, 1), (found.refs, 2), (found.groups, 3)):
        got = texts(spans)
        assert [None if t is None else json.loads(t) for t in got] == [row[column] for row in expected]
    for spans, same in ((found.prices, found.prices_same), (found.refs, found.refs_same)):
        got, first = texts(spans), {}
        for rate, text in enumerate(got):  # the first rate with byte-for-byte the same text; -1 when none
            assert same[rate] == (-1 if text is None else first.setdefault(text, rate))
    assert len(set(found.prices_same.tolist())) < len(found.item) / 10  # the lists do repeat


def test_a_batch_with_more_rates_than_the_first_output_array_holds() -> None:
    """Rates of a few bytes each outnumber the rows first set aside (a rate per 64 bytes): the walk is redone with
    room for all, and the equal-text links still span the whole batch."""
    rates = [b"{}", b'{"negotiated_prices":[0]}', b"{ }", b'{"negotiated_prices":[1],"provider_references":[1]}']
    items = [b'{"negotiated_rates":[' + b",".join(rates[i % 4] for i in range(1000)) + b"]}" for _ in range(80)]
    buf = b",".join(items)
    starts = np.cumsum([0] + [len(i) + 1 for i in items[:-1]])
    found = rate_spans(buf, starts, starts + [len(i) for i in items], list(range(80)))
    assert len(found.item) == 80_000 > len(buf) // 64
    assert found.prices_same[:8].tolist() == [-1, 1, -1, 3, -1, 1, -1, 3]
    assert sorted(set(found.prices_same.tolist())) == [-1, 1, 3]
    assert sorted(set(found.refs_same.tolist())) == [-1, 3]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (b"[1, 2]", "it is not a JSON object"),
        (b'{"negotiated_rates": "none"}', "negotiated_rates is not an array"),
        (b'{"negotiated_rates": [1]}', "an element of negotiated_rates is not an object"),
        (b'{"negotiated_rates": [], "negotiated_rates": []}', "it has negotiated_rates twice"),
        (b'{"negotiated_rates": [{"negotiated_prices": 1 2}]}', "JSON is malformed"),
    ],
)
def test_an_item_the_walk_cannot_read_is_named(item: bytes, message: str) -> None:
    good = b'{"negotiated_rates":[{"negotiated_prices":[]}]}'
    buf = good + b"," + item
    with pytest.raises(
        JsonShapeError, match=f"in_network item 8 \\(counted from 0\\) is not a valid item: .*{message}"
    ):
        rate_spans(buf, np.asarray([0, len(good) + 1]), np.asarray([len(good), len(buf)]), [7, 8])

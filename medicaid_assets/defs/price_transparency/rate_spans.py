"""Where each negotiated rate's prices, references and inline groups lie in a batch of items, and which rates wrote
the same text, found by one compiled walk (``_jsonscan.c``) without the GIL.

Every-code mode turns each negotiated rate into rows: decoding them as typed structs and looking their lists up
one by one cost ~2 µs a rate of Python work, most of the parse. Payers repeat the same price list and the same
reference list for many rates (the real CareFirst file: 122,310 rates, 2,727 distinct price lists), so the walk
records the spans and, per rate, the first rate of the batch with byte-for-byte the same list; the parse decodes
each distinct list once and builds the rows with numpy.

What is checked here: each item is an object whose members are well formed, ``negotiated_rates`` is an array
(or null) of objects, once per item. The values are not decoded: the distinct lists are, by msgspec, with their
types; the rest of each rate is skipped as the typed decode skips unknown fields (the element scan has checked
its brackets and bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np

from medicaid_assets.defs.price_transparency._jsonscan import rates as _rates
from medicaid_assets.defs.price_transparency.stream import JsonShapeError

_REASONS = {
    1: "it is not a JSON object",
    2: "it is not well-formed JSON",
    3: "negotiated_rates is not an array",
    4: "an element of negotiated_rates is not an object",
    5: "it has negotiated_rates twice",
}
_FULL = 6
_COLUMNS = 9


@dataclass
class RateSpans:
    """One row per negotiated rate, in item order; spans are offsets into the batch's buffer, -1 when absent.
    ``*_same``: the first rate of the batch whose list is the same text (the rate itself when the first)."""

    item: np.ndarray  # the rate's item: its place in the batch's list of items
    prices: np.ndarray  # (start, end) of negotiated_prices
    prices_same: np.ndarray
    refs: np.ndarray  # (start, end) of provider_references
    refs_same: np.ndarray
    groups: np.ndarray  # (start, end) of provider_groups
    rates_span: np.ndarray  # per item: (start, end) of its negotiated_rates value


def rate_spans(
    buf: bytes | bytearray | memoryview, starts: np.ndarray, ends: np.ndarray, indices: list[int]
) -> RateSpans:
    """The rates of the items ``buf[starts[k]:ends[k]]`` (``indices``: their places in ``in_network``, for the
    message when one is not a valid item)."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    spans = np.full((len(starts), 2), -1, dtype=np.int64)
    capacity = max(len(buf) // 128, 1024)  # a rate takes more bytes than that; if not, the walk says so and is redone
    while True:
        out = np.empty((_COLUMNS, capacity), dtype=np.int64)
        rows, done, reason = _rates(buf, starts, ends, out, spans)
        if reason != _FULL:
            break
        capacity *= 2  # rare: so many rates in one batch; walked again, the equal-text links must span all
    if reason:
        why = _REASONS[reason]
        try:  # msgspec names a malformed token's byte; the walk only says the item is malformed
            msgspec.json.decode(buf[starts[done] : ends[done]])
        except msgspec.DecodeError as exc:
            why = str(exc)
        raise JsonShapeError(f"in_network item {indices[done]} (counted from 0) is not a valid item: {why}")
    cols = out[:, :rows]  # each column contiguous (numpy indexes those faster)
    return RateSpans(cols[0], cols[1:3].T, cols[3], cols[4:6].T, cols[6], cols[7:9].T, spans)

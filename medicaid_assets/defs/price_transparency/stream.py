"""Split a streamed JSON object into the byte spans of the elements of its top-level arrays, without parsing them.

Price-transparency files are one JSON object of up to 150 GB whose bulk is two arrays (``in_network``,
``provider_references``). Memory must not grow with the file, so the object is read in chunks and each element
of a tracked array is located either by looking its end up in the reader thread's scan (``positions.py``, the
normalizer's way) or by msgspec validating it as a ``Raw`` value: msgspec stops at the element's end and reports
where the trailing data begins, with strings and escapes handled (a regex cannot). Untracked top-level values (the
header fields, plan lists) are kept as their raw bytes. Nothing here interprets the elements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from medicaid_assets.defs.price_transparency.positions import ElementIndex

_RAW = msgspec.json.Decoder(msgspec.Raw)
_WS = b" \t\r\n"
_KEY = re.compile(rb'\s*"((?:[^"\\]|\\.)*)"\s*:\s*', re.DOTALL)
_TRAILING = "trailing characters (byte "
_BYTE = re.compile(r"\(byte (\d+)\)")
_NEAR_END = 64
_PROBE = 256 << 10  # bytes of the next chunk tried first for an element across chunks


class JsonShapeError(ValueError):
    """The bytes are not a JSON object of the expected shape; the message says where and what."""


@dataclass
class Elements:
    """Complete elements of the tracked array ``key``: ``buf[starts[i]:ends[i]]`` is element ``first + i``;
    ``offset`` is where ``buf`` begins in the document (element ``i`` starts at byte ``offset + starts[i]``)."""

    key: str
    buf: bytes
    starts: list[int]
    ends: list[int]
    first: int
    offset: int = 0


@dataclass
class ArrayStart:
    """A tracked array begins: its key, how many bytes of the document came before it, and the untracked
    top-level values read so far (raw JSON by key)."""

    key: str
    offset: int
    fields_before: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Header:
    """The document's untracked top-level values as raw JSON bytes, by key (emitted once, at the end)."""

    fields: dict[str, bytes] = field(default_factory=dict)
    tracked_order: list[str] = field(default_factory=list)
    total_bytes: int = 0


def _value_end(view: memoryview, start: int, offset: int = 0) -> int | None:
    """End offset of the JSON value beginning at ``start``, or None when the buffer ends inside it; ``offset``: where
    the buffer begins in the document (for the messages)."""
    try:
        _RAW.decode(view[start:])
    except RecursionError:
        raise JsonShapeError(f"the JSON value at byte {offset + start} is nested too deeply") from None
    except msgspec.DecodeError as exc:
        text = str(exc)
        at = text.find(_TRAILING)
        if at >= 0:
            # msgspec counts the first trailing non-space byte as read: it sits at (reported offset - 1)
            return start + int(text[at + len(_TRAILING) : text.index(")", at)]) - 1
        m = _BYTE.search(text)
        # A chunk can end inside a number or a literal ("219." or "tr"), which msgspec reports as invalid
        # rather than truncated: an error within the last bytes of the window means "read more".
        if "truncated" in text or (m is not None and start + int(m.group(1)) >= len(view) - _NEAR_END):
            return None
        raise JsonShapeError(f"malformed JSON in the value at byte {offset + start}: {text}") from None
    return len(view)  # the value runs to the end of the buffer: complete only if no more data comes


class _Reader:
    """A sliding window over the chunks; ``consumed`` counts the bytes dropped before ``buf``."""

    def __init__(self, chunks: Iterable[bytes], max_element_bytes: int) -> None:
        self._chunks = iter(chunks)
        self.buf = b""
        self.pos = 0
        self.consumed = 0
        self.eof = False
        self._max = max_element_bytes

    def more(self, keep_from: int) -> bool:
        """Drop bytes before ``keep_from``, append the next chunk; False at the end of input."""
        chunk = self.next_chunk()
        if chunk is None:
            return False
        self.join(keep_from, chunk)
        return True

    def join(self, keep_from: int, chunk: bytes) -> None:
        """The window from ``keep_from`` on, followed by ``chunk`` (a value may not grow past the limit)."""
        if len(self.buf) - keep_from > self._max:
            raise JsonShapeError(
                f"one JSON value at byte {self.consumed + keep_from} exceeds {self._max:,} bytes "
                "(raise max_element_bytes if this file is trusted)"
            )
        self.consumed += keep_from
        self.buf = self.buf[keep_from:] + chunk
        self.pos -= keep_from

    def next_chunk(self) -> bytes | None:
        if self.eof:
            return None
        chunk = next(self._chunks, None)
        if chunk is None:
            self.eof = True
        return chunk

    def move_to(self, chunk: bytes, pos: int) -> None:
        """Make the next chunk the window (no copy): the bytes before it were parsed to their end."""
        self.consumed += len(self.buf)
        self.buf, self.pos = chunk, pos

    def skip_ws(self) -> int:
        """Position of the next non-whitespace byte (reading more as needed); -1 at the end of input."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return pos
            if not self.more(pos):
                return -1

    def where(self) -> int:
        return self.consumed + self.pos


def split_document(
    chunks: Iterable[bytes],
    tracked: frozenset[str] = frozenset({"in_network", "provider_references"}),
    *,
    batch_bytes: int = 8 << 20,
    max_element_bytes: int = 1 << 30,
    index: ElementIndex | None = None,
) -> Iterator[Elements | ArrayStart | Header]:
    """Yield the tracked arrays' elements in batches of about ``batch_bytes``, then the :class:`Header`.

    ``index``: the elements' ends as found by the reader thread (``positions.py``; ``chunks`` are then its
    :meth:`~ElementIndex.record`), looked up instead of validating each element with msgspec."""
    r = _Reader(chunks, max_element_bytes)
    header = Header()
    at = r.skip_ws()
    if at < 0 or r.buf[at] != 0x7B:
        raise JsonShapeError("the document is not a JSON object (it should start with '{')")
    r.pos += 1
    while True:
        at = r.skip_ws()
        if at < 0:
            raise JsonShapeError(f"the document ends inside its top-level object (byte {r.where()})")
        ch = r.buf[at]
        if ch == 0x7D:  # '}'
            r.pos += 1
            break
        if ch == 0x2C:  # ','
            r.pos += 1
            continue
        key = _read_key(r)
        at = r.skip_ws()
        if key in tracked and at >= 0 and r.buf[at] == 0x5B:  # '['
            header.tracked_order.append(key)
            yield ArrayStart(key, r.where(), dict(header.fields))
            r.pos += 1
            yield from _array_elements(r, key, batch_bytes, index)
        else:
            header.fields[key] = _read_value(r)
    if r.skip_ws() >= 0:
        raise JsonShapeError(f"unexpected data after the top-level object at byte {r.where()}")
    header.total_bytes = r.consumed + len(r.buf)
    yield header


def _read_key(r: _Reader) -> str:
    while True:
        m = _KEY.match(r.buf, r.pos)
        if m is not None and m.end() < len(r.buf):
            r.pos = m.end()
            return m.group(1).decode("utf-8", "replace")
        if not r.more(r.pos):
            raise JsonShapeError(f"expected a key in the top-level object at byte {r.where()}")


def _read_value(r: _Reader) -> bytes:
    start = r.pos
    while True:
        end = _value_end(memoryview(r.buf), r.pos, r.consumed)
        if end is not None and (end < len(r.buf) or r.eof):
            r.pos = end
            return r.buf[start:end]
        if not r.more(start):
            raise JsonShapeError(f"the document ends inside a top-level value (byte {r.where()})")
        start = r.pos


def _array_elements(r: _Reader, key: str, batch_bytes: int, found: ElementIndex | None) -> Iterator[Elements]:
    starts: list[int] = []
    ends: list[int] = []
    index = 0
    batch_from = r.pos
    expect_value = True
    while True:
        buf = r.buf
        view = memoryview(buf)
        pos, n = r.pos, len(buf)
        # The hot loop: one lookup (or msgspec call) per element, a few byte comparisons between elements.
        while True:
            while pos < n and buf[pos] in _WS:
                pos += 1
            if pos >= n:
                break
            ch = buf[pos]
            if ch == 0x2C and not expect_value:  # ','
                expect_value = True
                pos += 1
                continue
            if ch == 0x5D and (not expect_value or index == 0):  # ']'
                r.pos = pos + 1
                if starts:
                    yield Elements(key, buf, starts, ends, index - len(starts), r.consumed)
                return
            if not expect_value:
                raise JsonShapeError(f"expected ',' or ']' in {key!r} at byte {r.consumed + pos}")
            end = found.end_of(r.consumed + pos) if found is not None else None
            if end is not None:
                end -= r.consumed
            else:
                end = _value_end(view, pos, r.consumed)
                if found is not None:  # the scan stopped inside this value, at something msgspec has not seen yet
                    found.check(r.consumed + (n if end is None else end))
            if end is None or end >= n:
                break
            starts.append(pos)
            ends.append(end)
            index += 1
            pos = end
            expect_value = False
            if end - batch_from >= batch_bytes:
                yield Elements(key, buf, starts, ends, index - len(starts), r.consumed)
                starts, ends = [], []
                batch_from = end
        r.pos = pos
        if starts:  # the batch so far lives in the old buffer: hand it over before the window moves
            yield Elements(key, buf, starts, ends, index - len(starts), r.consumed)
            starts, ends = [], []
        if pos < n:  # an element runs past the window
            across = _across(r, pos, key, index)
            if across is not None:
                yield across
                index += 1
                expect_value = False
        elif not r.more(pos):
            raise JsonShapeError(f"the document ends inside the {key!r} array (byte {r.where()})")
        batch_from = r.pos


def _across(r: _Reader, pos: int, key: str, index: int) -> Elements | None:
    """The element starting at ``pos`` that runs past the window, alone in a small buffer (the window's tail and the
    next chunk's first bytes); the window then moves onto that chunk, just after the element, so a chunk is not
    copied into a new window (that copy cost ~0.2 s per GB, under the GIL). None when the element does not end early
    in the next chunk: the window is then the tail joined to the chunk (:meth:`_Reader.join`)."""
    chunk = r.next_chunk()
    if chunk is None:
        raise JsonShapeError(f"the document ends inside the {key!r} array (byte {r.where()})")
    if len(r.buf) - pos <= _PROBE:  # a large element goes straight to joined windows: each byte parsed once
        tail, probe = r.buf[pos:], _PROBE
        while probe < len(chunk):
            joint = tail + chunk[:probe]
            end = _value_end(memoryview(joint), 0, r.consumed + pos)
            if end is not None and end < len(joint):
                offset = r.consumed + pos
                r.move_to(chunk, end - len(tail))
                return Elements(key, joint, [0], [end], index, offset)
            probe *= 4
    r.join(pos, chunk)
    return None

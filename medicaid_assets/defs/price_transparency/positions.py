"""Where the elements of the document's arrays begin and end, found as the chunks arrive, in the reader thread.

Locating each ``in_network`` element by validating it with msgspec cost the parsing thread ~36 % of its time, and
counting the prices of dropped items another ~16 %, all under the GIL. Here one compiled pass per chunk
(``_jsonscan.c``, built when the project is installed; it releases the GIL, so one hand-over per 4 MiB chunk, not
one per element or per numpy call) tracks strings, escapes and nesting, and records for every element of a
top-level value (the containers one level inside it) its start, its end and how many ``"negotiated_rate"`` keys it
holds, and where elements' own ``"billing_code"`` keys are. The parse then only looks these up. (numba did the
same as fast, but its import added ~140 MB to every reading process and ~1.3 s to its start.)

What the scan checks: brackets balance and match, strings close, and only JSON's characters appear outside
strings. Items the whitelist drops are never decoded, so a bad token inside one (``tru``, ``1.2.3``) passes; a kept
item's own fields, its price lists, reference lists and inline groups, every reference and every header value are
still decoded and validated by msgspec (a negotiated rate's other fields are skipped, as the typed decode skipped
them, and checked by the scan only). When the scan stops at something wrong, the split falls back to msgspec, whose
message names the byte.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from medicaid_assets.defs.price_transparency._jsonscan import scan as _scan_chunk
from medicaid_assets.defs.price_transparency.stream import JsonShapeError

_MAX_DEPTH = 1024  # nesting levels the scan follows; deeper documents are refused
_LOOK = 32  # bytes after a chunk the scan may read (a key that crosses into the next chunk)
_CAP = 1 << 16  # elements and keys per kernel call (the call resumes where it paused)
_REASONS = {1: "a byte that is not JSON", 2: "a bracket that does not match", 3: f"nesting deeper than {_MAX_DEPTH}"}
_FAILED_AT, _REASON = 5, 6  # in the scan's state (``_jsonscan.c``): where and why it stopped


@dataclass
class _Found:
    """One chunk's findings: elements that end in it (document offsets) and ``"billing_code"`` keys that start in
    it; ``failed_at`` when the scan stopped in it."""

    starts: np.ndarray
    ends: np.ndarray
    counts: np.ndarray
    codes: np.ndarray
    failed_at: int | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        self.start_list: list[int] = self.starts.tolist()
        self.end_list: list[int] = self.ends.tolist()


class ElementIndex:
    """The elements and keys of one document, gathered while its chunks stream by (see the module's docstring)."""

    def __init__(self) -> None:
        self._state = np.zeros(7, dtype=np.int64)
        self._state[_FAILED_AT] = -1
        self._stack = np.zeros(_MAX_DEPTH, dtype=np.uint8)
        self._found: deque[_Found] = deque()
        self.failed_at: int | None = None
        self._reason = ""

    # -- the reader thread -----------------------------------------------------------------------------------------
    def scan(self, chunks: Iterable[bytes]) -> Iterator[tuple[bytes, _Found]]:
        """Each chunk with what the scan found in it; a chunk is scanned once the next bytes have arrived."""
        pending: deque[bytes] = deque()
        after = 0  # bytes pending after the first chunk
        base = 0
        for chunk in chunks:
            if not chunk:
                continue
            pending.append(chunk)
            if len(pending) > 1:
                after += len(chunk)
            while len(pending) > 1 and after >= _LOOK:
                first = pending.popleft()
                after -= len(pending[0])
                yield first, self._scan(first, pending, base)
                base += len(first)
        while pending:
            first = pending.popleft()
            yield first, self._scan(first, pending, base)
            base += len(first)

    def _scan(self, chunk: bytes, following: Iterable[bytes], base: int) -> _Found:
        look = b""
        for nxt in following:
            look += nxt[: _LOOK - len(look)]
            if len(look) >= _LOOK:
                break
        state = self._state
        parts: list[tuple[np.ndarray, ...]] = []
        at = 0
        while 0 <= at < len(chunk) and state[_FAILED_AT] < 0:
            starts, ends, counts, codes = (np.empty(_CAP, dtype=np.int64) for _ in range(4))
            elements, keys, at = _scan_chunk(chunk, look, base, at, state, self._stack, starts, ends, counts, codes)
            parts.append((starts[:elements], ends[:elements], counts[:elements], codes[:keys]))
        found = _Found(*(np.concatenate(p) for p in zip(*parts, strict=True))) if parts else _Found(*[_EMPTY] * 4)
        if state[_FAILED_AT] >= 0:
            found.failed_at, found.reason = int(state[_FAILED_AT]), _REASONS[int(state[_REASON])]
        return found

    # -- the parsing thread ----------------------------------------------------------------------------------------
    def record(self, scanned: Iterable[tuple[bytes, _Found]]) -> Iterator[bytes]:
        """The chunks again, keeping what was found in them for the lookups (run this where the chunks are parsed)."""
        for chunk, found in scanned:
            self._found.append(found)
            if found.failed_at is not None and self.failed_at is None:
                self.failed_at, self._reason = found.failed_at, found.reason
            yield chunk

    def end_of(self, start: int) -> int | None:
        """Where the element beginning at document offset ``start`` ends; None when no container begins there or
        its end has not arrived (the caller then asks msgspec)."""
        for found in self._found:
            starts = found.start_list
            if starts and starts[-1] >= start:
                i = bisect.bisect_left(starts, start)
                return found.end_list[i] if starts[i] == start else None
        return None

    def check(self, end: int) -> None:
        """Refuse the value read up to ``end`` when the scan stopped before there (msgspec has not seen the fault
        yet, or does not check it)."""
        if self.failed_at is not None and self.failed_at < end:
            raise JsonShapeError(f"{self._reason} at byte {self.failed_at}")

    def forget(self, before: int) -> None:
        """Drop what was found before ``before`` (parsed already): memory stays bounded by what is still unparsed."""
        found = self._found
        while found and _last(found[0]) < before:
            found.popleft()

    def between(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Elements starting in ``[lo, hi)`` (their starts and ``"negotiated_rate"`` counts) and the
        ``"billing_code"`` keys there; what lies before ``lo`` is forgotten (batches come in document order)."""
        self.forget(lo)
        starts, counts, codes = [], [], []
        for found in self._found:
            if len(found.starts):
                first, end = np.searchsorted(found.starts, (lo, hi))
                starts.append(found.starts[first:end])
                counts.append(found.counts[first:end])
            if len(found.codes):
                first, end = np.searchsorted(found.codes, (lo, hi))
                codes.append(found.codes[first:end])
        return _joined(starts), _joined(counts), _joined(codes)


_EMPTY = np.empty(0, dtype=np.int64)


def _last(found: _Found) -> int:
    return max(found.start_list[-1] if found.start_list else -1, int(found.codes[-1]) if len(found.codes) else -1)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else _EMPTY

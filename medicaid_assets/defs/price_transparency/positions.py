"""Where a key occurs in the document, found as the chunks arrive, in the reader thread, without the GIL.

The whitelist prefilter reads the code after every ``"billing_code"`` key of a batch. ``bytes.find`` holds the GIL,
so on the parsing thread finding the keys cost ~0.3 s per GB; numpy finds the same offsets on the other core (a
4-byte word of the key compared at each of the four alignments, the few candidates then checked whole), and the
parse only looks them up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np

_EMPTY = np.empty(0, dtype=np.int64)


def find_all(data: bytes, needle: bytes, anchor: int) -> np.ndarray:
    """Sorted offsets where ``needle`` starts in ``data``; ``needle[anchor:anchor + 4]`` should be a rare word."""
    n = len(needle)
    word = np.frombuffer(needle[anchor : anchor + 4], dtype=np.uint32)[0]
    found = []
    for shift in range(4):
        words = (len(data) - shift) // 4
        if words > 0:
            at = np.flatnonzero(np.frombuffer(data, dtype=np.uint32, count=words, offset=shift) == word)
            found.append(at * 4 + (shift - anchor))
    if not found:
        return _EMPTY
    candidates = np.sort(np.concatenate(found))
    candidates = candidates[(candidates >= 0) & (candidates + n <= len(data))]
    raw = np.frombuffer(data, dtype=np.uint8)
    whole = (raw[candidates[:, None] + np.arange(n)] == np.frombuffer(needle, dtype=np.uint8)).all(axis=1)
    return candidates[whole].astype(np.int64, copy=False)


class KeyPositions:
    """The document offsets of one key (``needle``, with the offset of a rare 4-byte word in it), gathered while
    the chunks stream by."""

    def __init__(self, needle: bytes, anchor: int) -> None:
        self._needle, self._anchor = needle, anchor
        self._found: deque[np.ndarray] = deque()

    def scan(self, chunks: Iterable[bytes]) -> Iterator[tuple[bytes, np.ndarray]]:
        """Each chunk with the offsets of the keys that start in it (run this in the reader thread)."""
        needle, anchor, offset, tail = self._needle, self._anchor, 0, b""
        for chunk in chunks:
            at = find_all(chunk, needle, anchor) + offset
            if tail:  # a key across the boundary starts in the previous chunks' last bytes
                across = find_all(tail + chunk[: len(needle) - 1], needle, anchor)
                if len(across):
                    at = np.concatenate([across + (offset - len(tail)), at])
            yield chunk, at
            offset += len(chunk)
            tail = (tail + chunk)[-(len(needle) - 1) :] if len(chunk) < len(needle) else chunk[1 - len(needle) :]

    def record(self, scanned: Iterable[tuple[bytes, np.ndarray]]) -> Iterator[bytes]:
        """The chunks again, keeping their offsets for :meth:`between` (run this where the chunks are parsed)."""
        for chunk, at in scanned:
            if len(at):
                self._found.append(at)
            yield chunk

    def forget(self, before: int) -> None:
        """Drop the offsets before ``before`` (parsed already): memory stays bounded by what is still unparsed."""
        found = self._found
        while found and found[0][-1] < before:
            found.popleft()

    def between(self, lo: int, hi: int) -> np.ndarray:
        """Offsets in ``[lo, hi)``; those before ``lo`` are forgotten (batches come in document order)."""
        self.forget(lo)
        parts = []
        for at in self._found:
            if at[0] >= hi:
                break
            first, end = np.searchsorted(at, (lo, hi))
            parts.append(at[first:end])
        return np.concatenate(parts) if parts else _EMPTY

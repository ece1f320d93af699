"""Open an in-network file as a stream of decompressed JSON chunks: ``.json``, ``.json.gz`` (ISA-L), ``.zip``.

Containers are recognized by their magic bytes, not the name (payers mislabel them). Untrusted input is bounded:
the decompressed size and the decompression ratio are capped, so a gzip or zip bomb stops with an error naming
the file instead of filling the disk or memory. ``.7z`` is refused with a clear message: no well-kept library
reads it as a stream (py7zr extracts whole members).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from isal import igzip

CHUNK = 4 << 20
_GZIP, _ZIP, _7Z = b"\x1f\x8b", b"PK\x03\x04", b"7z\xbc\xaf\x27\x1c"


class UnsafeFileError(ValueError):
    """The file breaks a safety limit or is not a container we read; the message names the file and the limit."""


@dataclass(frozen=True)
class Limits:
    max_json_bytes: int = 200 << 30  # the largest real files are ~150 GB of JSON
    max_ratio: float = 200.0  # decompressed / compressed bytes; real MRFs compress 10-50x
    ratio_grace_bytes: int = 64 << 20  # small files may compress absurdly well (all whitespace)


def container_of(path: Path) -> str:
    with path.open("rb") as handle:
        magic = handle.read(6)
    if magic.startswith(_GZIP):
        return "gzip"
    if magic.startswith(_ZIP):
        return "zip"
    if magic.startswith(_7Z):
        return "7z"
    return "json"


def _bounded(name: str, raw: Iterator[bytes], compressed_size: int, limits: Limits) -> Iterator[bytes]:
    total = 0
    for chunk in raw:
        total += len(chunk)
        if total > limits.max_json_bytes:
            raise UnsafeFileError(f"{name}: more than {limits.max_json_bytes:,} bytes of JSON (size limit)")
        if total > limits.ratio_grace_bytes and total > limits.max_ratio * max(compressed_size, 1):
            raise UnsafeFileError(
                f"{name}: decompresses to more than {limits.max_ratio:g}x its {compressed_size:,} bytes "
                "(decompression-bomb limit)"
            )
        yield chunk


def _read(handle, size: int) -> Iterator[bytes]:
    while chunk := handle.read(size):
        yield chunk


def open_chunks(path: Path, limits: Limits = Limits(), chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Decompressed JSON bytes of ``path`` in chunks (a generator: the file stays open while it is consumed)."""
    kind = container_of(path)
    size = path.stat().st_size
    if kind == "7z":
        raise UnsafeFileError(f"{path.name}: a .7z archive; unpack it to .json or .json.gz first (not streamable)")
    if kind == "gzip":
        with igzip.open(path, "rb") as handle:  # multi-member gzip reads through like gzip -dc
            yield from _bounded(path.name, _read(handle, chunk_size), size, limits)
        return
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                names = [m.filename for m in members][:5]
                raise UnsafeFileError(f"{path.name}: a zip with {len(members)} files {names}, expected one JSON file")
            member = members[0]
            if member.file_size > limits.max_json_bytes:
                raise UnsafeFileError(f"{path.name}: its member declares {member.file_size:,} bytes (size limit)")
            with archive.open(member) as handle:
                yield from _bounded(f"{path.name}:{member.filename}", _read(handle, chunk_size), size, limits)
        return
    with path.open("rb") as handle:
        yield from _bounded(path.name, _read(handle, chunk_size), size, limits)

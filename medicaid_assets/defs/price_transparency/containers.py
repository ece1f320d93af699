"""Open an in-network file as a stream of decompressed JSON chunks: ``.json``, ``.json.gz`` (ISA-L), ``.zip``,
``.7z`` (libarchive, which decompresses LZMA/LZMA2 blocks as they are read; py7zr hands out whole members).

Containers are recognized by their magic bytes, not the name (payers mislabel them). Untrusted input is bounded:
the decompressed size and the decompression ratio are capped, so a gzip, zip or 7z bomb stops with an error
naming the file instead of filling the disk or memory; an archive must hold exactly one file.
"""

from __future__ import annotations

import itertools
import queue
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from isal import igzip

CHUNK = 4 << 20
_END = object()
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
        return kind_of(handle.read(6))


def kind_of(magic: bytes) -> str:
    """The container of a file from its first bytes: gzip, zip, 7z or json."""
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
        yield from _seven_zip(path, size, limits, chunk_size)
        return
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


def _seven_zip(path: Path, size: int, limits: Limits, chunk_size: int) -> Iterator[bytes]:
    """The one file of a .7z, decompressed as it is read. Its second file, if any, is found only after the first
    was read (listing would decompress it twice): the error then still comes before anything is written.

    libarchive-c loads the system's libarchive when imported, so it is imported here: a machine without it reads
    every other container and says what to install when it meets a .7z."""
    try:
        import libarchive
        from libarchive.exception import ArchiveError
    except OSError as exc:
        raise UnsafeFileError(f"{path.name}: reading .7z needs the system's libarchive ({exc})") from None
    try:
        with libarchive.file_reader(str(path)) as archive:
            files = (entry for entry in archive if entry.isfile)
            member = next(files, None)
            if member is None:
                raise UnsafeFileError(f"{path.name}: a .7z with no file in it, expected one JSON file")
            first = member.pathname
            if member.size is not None and member.size > limits.max_json_bytes:
                raise UnsafeFileError(f"{path.name}: its member declares {member.size:,} bytes (size limit)")
            yield from _bounded(f"{path.name}:{first}", member.get_blocks(chunk_size), size, limits)
            if (extra := next(files, None)) is not None:
                raise UnsafeFileError(f"{path.name}: a .7z with more than one file ({first}, {extra.pathname} …)")
    except ArchiveError as exc:
        raise UnsafeFileError(f"{path.name}: not a readable .7z archive ({exc})") from None


def stream_chunks(name: str, body: Iterable[bytes], limits: Limits = Limits()) -> Iterator[bytes]:
    """Decompressed JSON bytes of a body as it arrives (``.json`` or ``.json.gz``, members concatenated or not), for
    readers that stop after the first items; a zip or 7z keeps its directory at the end, so it must be downloaded."""
    body = iter(body)
    head = b""
    while len(head) < 6 and (more := next(body, b"")):
        head += more
    kind = kind_of(head)
    if kind in ("zip", "7z"):
        raise UnsafeFileError(f"{name}: a .{kind} archive is read from its end; download it first")
    if kind == "json":
        yield from _bounded(name, itertools.chain([head], body), limits.max_json_bytes, limits)
        return
    inflate, compressed, total = zlib.decompressobj(31), 0, 0
    for chunk in itertools.chain([head], body):
        compressed += len(chunk)
        while chunk:
            out = inflate.decompress(chunk, CHUNK)
            chunk = inflate.unconsumed_tail
            if inflate.eof:  # the next gzip member, if any, starts in what is left
                chunk, inflate = inflate.unused_data + chunk, zlib.decompressobj(31)
            total += len(out)
            if total > limits.max_json_bytes:
                raise UnsafeFileError(f"{name}: more than {limits.max_json_bytes:,} bytes of JSON (size limit)")
            if total > limits.ratio_grace_bytes and total > limits.max_ratio * compressed:
                raise UnsafeFileError(
                    f"{name}: decompresses to more than {limits.max_ratio:g}x its bytes (decompression-bomb limit)"
                )
            if out:
                yield out


def readahead(chunks: Iterable[bytes], depth: int = 2) -> Iterator[bytes]:
    """``chunks`` pulled by a thread of their own, up to ``depth`` ahead: file reads and ISA-L/zlib inflation release
    the GIL, so they overlap the parse. The reader's error is raised here; leaving early stops the reader, and a
    generator is closed (its file with it) by the thread that ran it."""
    ahead: queue.Queue = queue.Queue(depth)
    done = threading.Event()

    def put(item: object) -> bool:
        while not done.is_set():
            try:
                ahead.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        source = iter(chunks)
        last: object = _END
        try:
            for chunk in source:
                if not put(chunk):
                    return
        except BaseException as exc:
            last = exc
        finally:
            if hasattr(source, "close"):
                source.close()
        put(last)

    reader = threading.Thread(target=pump, name="readahead", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        done.set()
        reader.join()

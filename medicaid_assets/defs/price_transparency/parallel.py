"""One large ``.json`` in-network file normalized by several processes, each over a share of its ``in_network`` items.

The split needs no parse of the whole file: the first item's opening (``{"negotiation_arrangement":`` or whatever
key the payer writes first) is looked for after the middle of the file, and a worker reads the document's head
(everything up to ``"in_network":[``) followed by the bytes from that guess to the end, which is a complete JSON
document when the guess is an item's start. The guess is then verified, not trusted: the first worker reads from
the beginning and stops only at an element that starts exactly at the guessed byte; when it finds none (the
pattern sat inside a string, or inside an item) it reads on to the end and the other workers' output is dropped,
so the result equals one process's in every case.

The first share is read by this process, the others by spawned workers. A spawned worker spends its first ~0.7 s
(more under Dagster) starting and importing while this process already reads, so the boundary between the first two
shares moves (:class:`Boundary`): when the first worker is ready and this process has not yet reached the guessed
middle, the worker takes a new guess halfway through what is left, and both shares end together. Remote reference
files are fetched once, by this process, before the workers start (they receive the bodies); files whose
``provider_references`` come after ``in_network``, or that have none, compressed files (a gzip stream cannot be
entered in the middle) and small files run in one process. The workers' parts are joined by one query per table
(:func:`part_queries`), which the IO manager runs as it stores them: rate rows in file order with ``item_index``
counted from the file's start, and the organizations and providers that every worker registered (the file's
reference groups) once.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import re
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medicaid_assets.defs.price_transparency.normalize import (
    ORGANIZATIONS_SCHEMA,
    PROVIDERS_SCHEMA,
    RATES_PART_SCHEMA,
    FileConfig,
    FileSummary,
    Normalizer,
    OutputBatch,
)
from medicaid_assets.defs.price_transparency.stream import ArrayStart, Elements, JsonShapeError, split_document

SCHEMAS = {"rates": RATES_PART_SCHEMA, "organizations": ORGANIZATIONS_SCHEMA, "providers": PROVIDERS_SCHEMA}
_FIRST_KEY = re.compile(rb'\s*\{\s*("(?:[^"\\]|\\.)*"\s*:)')
_LOOK = 1 << 20  # bytes read per look for an item start
_LOOK_MAX = 256 << 20  # items larger than this: one process


@dataclass(frozen=True)
class Head:
    """What the split needs from the document's head."""

    in_network_at: int  # the byte after ``"in_network":[``
    first_key: bytes  # the first item's first key with its colon, e.g. ``"negotiation_arrangement":``
    references_before: bool


def read_head(path: Path, chunk_size: int = 4 << 20) -> Head | None:
    """The head of a plain JSON in-network file; None when the file has no ``in_network`` array with an item."""

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    refs_before = False
    events = split_document(chunks(), batch_bytes=1)
    for event in events:
        if isinstance(event, ArrayStart):
            if event.key == "provider_references":
                refs_before = True
            elif event.key == "in_network":
                at = event.offset + 1
                with path.open("rb") as handle:
                    handle.seek(at)
                    m = _FIRST_KEY.match(handle.read(64 << 10))
                events.close()
                return Head(at, m.group(1), refs_before) if m else None
        elif isinstance(event, Elements) and event.key == "in_network":
            break
    return None


def guess_item_start(path: Path, head: Head, near: int) -> int | None:
    """The byte of the first ``,{<first key>`` at or after ``near``: probably an item's start (verified later)."""
    pattern = re.compile(rb",\s*(\{\s*" + re.escape(head.first_key).replace(b":", rb"\s*:") + rb")")
    size = path.stat().st_size
    with path.open("rb") as handle:
        at = near
        while at < min(size, near + _LOOK_MAX):
            handle.seek(at)
            window = handle.read(_LOOK + 256)
            m = pattern.search(window)
            if m is not None:
                return at + m.start(1)
            at += _LOOK
    return None


@dataclass(frozen=True)
class Boundary:
    """Where the first share ends and the second begins, kept in a small file (``state``) that both processes lock:
    the stop, the first share's progress, and whether the stop is fixed (the first share reached it, or the second
    share claimed it). Picklable: the worker gets the file's path. The stop only ever moves later, once."""

    state: Path
    path: Path  # the in-network file
    head: Head
    limit: int  # where the second share ends (the third's start, or the file's end)

    _FORMAT = struct.Struct("<qqq")  # stop, progress, fixed

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[int]]:
        fd = os.open(self.state, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            values = list(self._FORMAT.unpack(os.pread(fd, self._FORMAT.size, 0)))
            before = list(values)
            yield values
            if values != before:
                os.pwrite(fd, self._FORMAT.pack(*values), 0)
        finally:
            os.close(fd)  # releases the lock

    @classmethod
    def create(cls, state: Path, path: Path, head: Head, stop: int, limit: int) -> Boundary:
        state.write_bytes(cls._FORMAT.pack(stop, 0, 0))
        return cls(state, path, head, limit)

    def advance(self, progress: int) -> int:
        """The first share is at ``progress`` (a batch read up to there): the stop as it stands, fixed from now on
        if the batch reaches it."""
        with self._locked() as values:
            values[1] = progress
            if progress >= values[0]:
                values[2] = 1
            return values[0]

    def claim(self) -> int:
        """The second share's start: the stop, moved halfway into what the first share has left when it is still
        short of it (a new guess, verified like the first)."""
        with self._locked() as values:
            stop, progress, fixed = values
            if not fixed:
                guess = guess_item_start(self.path, self.head, progress + (self.limit - progress) // 2)
                if guess is not None and stop < guess < self.limit:
                    values[0] = stop = guess
                values[2] = 1
            return stop

    def stop(self) -> int:
        with self._locked() as values:
            return values[0]


class CachedFetch:
    """Remote reference files fetched by the parent, handed to workers (picklable): the body, or the error text."""

    def __init__(self, fetch: Callable[[str], bytes] | None) -> None:
        self._fetch = fetch
        self.bodies: dict[str, bytes | str] = {}

    def __call__(self, url: str) -> bytes:
        if url not in self.bodies:
            if self._fetch is None:
                raise RuntimeError("remote references are not fetched in this run")
            try:
                self.bodies[url] = self._fetch(url)
            except Exception as exc:
                self.bodies[url] = f"{type(exc).__name__}: {exc}"
        body = self.bodies[url]
        if isinstance(body, str):
            raise RuntimeError(body)
        return body

    def __getstate__(self) -> dict:
        return {"_fetch": None, "bodies": self.bodies}


def write_parts(batches: Iterator, part: Path, extra: Callable[[pa.Table], pa.Table] | None = None) -> None:
    """Every output batch into ``part/{rates,organizations,providers}.parquet`` (zstd), each file opened first.

    Two threads take the batches from the parse: one builds a batch's tables (the rates table is built when first
    read; ``extra`` adds columns) while the other writes the batch before it. Building and encoding are Arrow,
    polars and zstd work that mostly releases the GIL, so they overlap each other and the parse of the next batch
    (with one thread for both, the writer was the slowest stage of every-code mode). At most one batch waits at
    each stage, so memory stays bounded."""
    part.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}

    def build(batch: OutputBatch) -> list[tuple[str, pa.Table]]:
        tables = []
        for name in writers:
            table = getattr(batch, name)
            if table is not None and table.num_rows:
                tables.append((name, extra(table) if extra else table))
        return tables

    def write(tables: list[tuple[str, pa.Table]]) -> None:
        for name, table in tables:
            writers[name].write_table(table)

    building: Future | None = None
    writing: Future | None = None

    def hand_on() -> Future:  # the built batch to the writer, once the one before is written
        tables = building.result()
        if writing is not None:
            writing.result()
        return writer.submit(write, tables)

    with (
        ThreadPoolExecutor(1, thread_name_prefix="build_parts") as builder,
        ThreadPoolExecutor(1, thread_name_prefix="write_parts") as writer,
    ):
        try:
            for name, schema in SCHEMAS.items():
                empty = extra(schema.empty_table()) if extra else schema.empty_table()
                # staged parts are read whole once (part_queries): column statistics would only cost time
                writers[name] = pq.ParquetWriter(
                    part / f"{name}.parquet", empty.schema, compression="zstd", write_statistics=False
                )
            for batch in batches:
                if building is not None:
                    writing = hand_on()
                building = builder.submit(build, batch)
            if building is not None:
                writing = hand_on()
                writing.result()
        finally:
            # a failed parse or build: the batches in flight finish before the files close
            wait([f for f in (building, writing) if f is not None])
            for parquet in writers.values():
                parquet.close()


def _chunks(path: Path, start: int, end: int | None, head: bytes = b"", size: int = 4 << 20) -> Iterator[bytes]:
    if head:
        yield head
    with path.open("rb") as handle:
        handle.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            chunk = handle.read(size if left is None else min(size, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


def _worker(
    path: Path,
    config: FileConfig,
    part: Path,
    start: int | Boundary,
    stop_at: int | Callable[[int], int] | None,
    head_bytes: bytes,
    extra,
) -> tuple[FileSummary, bool | None]:
    """One share: from ``start`` (an item's start, 0, or where the boundary puts it) to the item starting at
    ``stop_at`` (None: the end; a callable: the boundary's stop as it stands)."""
    normalizer = Normalizer(config)
    if isinstance(start, Boundary):
        start = start.claim()
    if start == 0:
        batches = normalizer.run(_chunks(path, 0, None), stop_at=stop_at)
    else:  # the document is the head followed by the file from ``start``: shift the stop into its coordinates
        doc_stop = None if stop_at is None else stop_at - start + len(head_bytes)
        batches = normalizer.run(_chunks(path, start, None, head_bytes), stop_at=doc_stop)
    write_parts(batches, part, extra)
    return normalizer.summary, normalizer.stopped


def normalize_split(
    path: Path,
    config: FileConfig,
    staging: Path,
    *,
    workers: int = 2,
    extra: Callable[[pa.Table], pa.Table] | None = None,
) -> tuple[FileSummary, dict[str, str]] | None:
    """Normalize ``path`` (plain JSON) with ``workers`` processes into ``staging/part<k>/``: the summary and a
    query per table over the parts (:func:`part_queries`); None when the file does not split (see the module
    docstring): the caller then runs one process. ``extra`` adds columns (the partition key) to every table; it
    must be picklable (a module-level function or a ``functools.partial``)."""
    started = time.perf_counter()
    head = read_head(path)
    if head is None or not head.references_before or workers < 2:
        return None
    size = path.stat().st_size
    starts = [0]
    for k in range(1, workers):
        guess = guess_item_start(path, head, head.in_network_at + (size - head.in_network_at) * k // workers)
        if guess is None or guess <= starts[-1]:
            return None
        starts.append(guess)
    with path.open("rb") as handle:
        head_bytes = handle.read(head.in_network_at)
    fetch = CachedFetch(config.fetch)
    warm = Normalizer(replace(config, whitelist=None, fetch=fetch))  # reads the references, fetches remote files
    for _ in warm.run([head_bytes, b"]}"]):
        pass
    shared = replace(config, fetch=fetch)
    parts = [staging / f"part{k}" for k in range(workers)]
    staging.mkdir(parents=True, exist_ok=True)
    boundary = Boundary.create(staging / "boundary", path, head, starts[1], starts[2] if workers > 2 else size)
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads (Dagster's, HTTP)
    with ProcessPoolExecutor(workers - 1, mp_context=context) as pool:
        futures = [
            pool.submit(
                _worker,
                path,
                shared,
                parts[k],
                boundary if k == 1 else starts[k],
                starts[k + 1] if k + 1 < workers else None,
                head_bytes,
                extra,
            )
            for k in range(1, workers)
        ]
        # the first share runs here while the workers start: this process has its imports already
        results = [_worker(path, shared, parts[0], 0, boundary.advance, head_bytes, extra)]
        for future in futures:
            try:
                results.append(future.result())
            except JsonShapeError:
                results.append(None)  # a wrong guess; the earlier worker read on to the end
    starts[1] = boundary.stop()
    used = 1  # worker k's share counts when worker k - 1 stopped exactly where k began
    while used < workers and results[used - 1][1] is True:
        if results[used] is None:  # the start was verified, so the file itself is malformed after it
            raise JsonShapeError(f"the in_network array is malformed after byte {starts[used]}")
        used += 1
    summaries = [results[k][0] for k in range(used)]
    queries = part_queries(parts[:used], [summary.items for summary in summaries])
    return _merged(summaries, size, time.perf_counter() - started), queries


def _parquet(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"


def part_queries(parts: list[Path], items: list[int]) -> dict[str, str]:
    """A DuckDB SELECT per table over the parts' parquet files (``items``: how many items each part read): rate
    rows in file order with ``item_index`` counted from the file's start, organizations and providers once each
    (every part registered the file's reference groups). The IO manager runs these when it stores the tables, so
    joining the parts costs no extra pass."""
    rates, offset = [], 0
    for part, count in zip(parts, items, strict=True):
        shift = f" REPLACE (item_index + {offset} AS item_index)" if offset else ""
        rates.append(f"SELECT *{shift} FROM read_parquet({_parquet(part / 'rates.parquet')})")
        offset += count
    listed = {name: "[" + ", ".join(_parquet(p / f"{name}.parquet") for p in parts) + "]" for name in SCHEMAS}
    return {  # one part or many: a provider or organization a file names twice is stored once
        "rates": " UNION ALL ".join(rates),
        "organizations": f"SELECT DISTINCT * FROM read_parquet({listed['organizations']})",
        "providers": f"SELECT DISTINCT * FROM read_parquet({listed['providers']})",
    }


def _merged(summaries: list[FileSummary], size: int, seconds: float) -> FileSummary:
    first, last = summaries[0], summaries[-1]
    merged = replace(first, bytes_json=size, header=last.header, duration_s=seconds, processes=len(summaries))
    for s in summaries[1:]:
        merged.items += s.items
        merged.items_kept += s.items_kept
        merged.prices_kept += s.prices_kept
        merged.prices_dropped += s.prices_dropped
        merged.rate_rows += s.rate_rows
    return merged

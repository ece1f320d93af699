"""Price-transparency stages: the normalizer end to end beside its floors, on the same input in the same process.

Input as in ``shared/design/tic-floors.md``: the real CareFirst file's items (via the sample world's generator)
repeated to the target size, billing codes varied so that the 500-code whitelist keeps about 15% of the items,
written as ``.json`` and as ``.json.gz``. Floors: reading the bytes, ISA-L gunzip, splitting ``in_network`` into
elements (no parse). The task: in-network JSON → parquet rows with their ids (rates, organizations, providers),
with the whitelist and without, from ``.json`` and ``.json.gz``, and two files at once in two processes (the
2-core figure). MB/s = uncompressed JSON per second of wall.
"""

from __future__ import annotations

import gzip
import multiprocessing
import re
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medicaid_assets.defs.price_transparency.containers import open_chunks
from medicaid_assets.defs.price_transparency.normalize import FileConfig, Normalizer
from medicaid_assets.defs.price_transparency.stream import Elements, split_document
from medicaid_assets.defs.price_transparency.whitelist import load_whitelist
from medicaid_assets.sample_world.price_transparency import carefirst_items

_CODE = re.compile(rb'"billing_code"\s*:\s*"[^"]*"')


def make_input(dest: Path, target_bytes: int) -> tuple[Path, Path]:
    """``dest`` (.json) of about ``target_bytes`` and its ``.json.gz`` twin (reused when present)."""
    gz = dest.with_suffix(".json.gz")
    if dest.exists() and gz.exists() and dest.stat().st_size >= target_bytes * 0.9:
        return dest, gz
    head, tail, items = carefirst_items(1773)
    listed = sorted(load_whitelist().cpt)
    dest.parent.mkdir(parents=True, exist_ok=True)
    written, n = 0, 0
    with dest.open("wb") as out:
        out.write(head)
        while written < target_bytes:
            item = items[n % len(items)]
            code = listed[n % len(listed)] if n % 7 == 0 else f"{90000 + n % 9000:05d}"  # 1 in 7 whitelisted
            item = _CODE.sub(f'"billing_code":"{code}"'.encode(), item, count=1)
            out.write(item if n == 0 else b"," + item)
            written += len(item) + 1
            n += 1
        out.write(tail)
    with dest.open("rb") as src, gzip.open(gz, "wb", compresslevel=6) as out:
        while chunk := src.read(8 << 20):
            out.write(chunk)
    return dest, gz


def _timed(fn: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    n = fn()
    return time.perf_counter() - started, n


def floor_read(path: Path) -> int:
    total = 0
    with path.open("rb") as handle:
        while chunk := handle.read(4 << 20):
            total += len(chunk)
    return total


def floor_gunzip(path: Path) -> int:
    return sum(len(c) for c in open_chunks(path))


def floor_split(path: Path) -> int:
    n = 0
    for event in split_document(open_chunks(path)):
        if isinstance(event, Elements):
            n += len(event.starts)
    return n


def normalize_to_parquet(path: Path, out_dir: Path, *, whitelist: bool) -> int:
    """The task: every table to parquet (zstd) as the asset writes them; returns rate rows."""
    config = FileConfig(
        payer="bench", url=f"https://bench.example/{path.name}", whitelist=load_whitelist() if whitelist else None
    )
    normalizer = Normalizer(config)
    writers: dict[str, pq.ParquetWriter] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for batch in normalizer.run(open_chunks(path)):
            for name in ("rates", "organizations", "providers"):
                table: pa.Table | None = getattr(batch, name)
                if table is None or not table.num_rows:
                    continue
                if name not in writers:
                    writers[name] = pq.ParquetWriter(out_dir / f"{name}.parquet", table.schema, compression="zstd")
                writers[name].write_table(table)
    finally:
        for writer in writers.values():
            writer.close()
    return normalizer.summary.rate_rows


def _normalize_in_worker(path: Path, out_dir: Path, whitelist: bool) -> tuple[int, int]:
    rows = normalize_to_parquet(path, out_dir, whitelist=whitelist)
    return rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def two_processes(path: Path, out_dir: Path, *, whitelist: bool) -> tuple[int, int]:
    """Two worker processes, each normalizing a whole file (as a multiprocess run takes two file partitions);
    returns rate rows of both and the larger worker's peak RSS."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        done = list(pool.map(_normalize_in_worker, [path, path], [out_dir / "w0", out_dir / "w1"], [whitelist] * 2))
    return sum(rows for rows, _ in done), max(rss for _, rss in done)


def measure(work: Path, target_bytes: int) -> dict[str, float | int]:
    """Every floor and task figure on one input of ``target_bytes``."""
    json_path, gz_path = make_input(work / f"carefirst_{target_bytes >> 20}mb.json", target_bytes)
    size = json_path.stat().st_size
    figures: dict[str, float | int] = {"json_bytes": size, "gz_bytes": gz_path.stat().st_size}
    for name, fn in (
        ("floor_read", lambda: floor_read(json_path)),
        ("floor_gunzip_isal", lambda: floor_gunzip(gz_path)),
        ("floor_split", lambda: floor_split(json_path)),
        ("whitelist_json", lambda: normalize_to_parquet(json_path, work / "out", whitelist=True)),
        ("whitelist_gz", lambda: normalize_to_parquet(gz_path, work / "out", whitelist=True)),
        ("all_codes_json", lambda: normalize_to_parquet(json_path, work / "out", whitelist=False)),
    ):
        seconds, count = _timed(fn)
        figures[f"{name}_mb_s"] = round(size / 1e6 / seconds, 1)
        figures[f"{name}_count"] = count
    # The 2-core figure: two files at once in two processes; MB/s of both files' JSON per second of wall.
    started = time.perf_counter()
    rows, worker_rss = two_processes(json_path, work / "out2", whitelist=True)
    figures["whitelist_json_2proc_mb_s"] = round(2 * size / 1e6 / (time.perf_counter() - started), 1)
    figures["whitelist_json_2proc_count"] = rows
    figures["whitelist_json_2proc_worker_peak_rss_bytes"] = worker_rss
    return figures

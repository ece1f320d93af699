"""Price-transparency stages: the normalizer end to end beside its floors and a peer, same input, same run.

Input as in ``shared/design/tic-floors.md``: the real CareFirst file's items (via the sample world's generator)
repeated to the target size, billing codes varied so that the 500-code whitelist keeps about 15% of the items,
written as ``.json`` and as ``.json.gz``. The file's 370 remote references are written as in-file provider groups
(a TIN and an NPI each), so rates resolve to organizations and the peer, cms-mrf-extractor (which fails on remote
references), reads the same file. Floors: reading the bytes, ISA-L gunzip, splitting ``in_network`` into elements
(the compiled element scan, no parse). The task: in-network JSON → parquet rows with their ids (rates,
organizations, providers), with the whitelist and without, from ``.json`` and ``.json.gz``, one file split over
two processes (the 2-core figure), and
the whitelist pass again on an input three times as large (peak RSS must not grow). Each task runs in a fresh
process (spawned) so that its peak RSS is its own. MB/s = uncompressed JSON per second of wall; CPU seconds are
reported beside wall (the machine is shared).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import multiprocessing
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from medicaid_assets.defs.price_transparency.containers import open_chunks
from medicaid_assets.defs.price_transparency.normalize import FileConfig, Normalizer
from medicaid_assets.defs.price_transparency.parallel import normalize_split, write_parts
from medicaid_assets.defs.price_transparency.positions import ElementIndex
from medicaid_assets.defs.price_transparency.whitelist import load_whitelist
from medicaid_assets.sample_world.price_transparency import carefirst_items

_CODE = re.compile(rb'"billing_code"\s*:\s*"[^"]*"')


_REMOTE_REF = re.compile(rb'"provider_group_id"\s*:\s*([0-9.]+)\s*,\s*"location"\s*:\s*"[^"]*"')


def _in_file_group(m: re.Match) -> bytes:
    n = sum(m.group(1)) % 997
    npi = ("1234567893", "1003000126", "1497758544")[n % 3]
    group = f'{{"npi":[{npi}],"tin":{{"type":"ein","value":"{n:09d}"}}}}'
    return b'"provider_group_id": ' + m.group(1) + b', "provider_groups": [' + group.encode() + b"]"


def make_input(dest: Path, target_bytes: int, *, gz: bool = True) -> tuple[Path, Path | None]:
    """``dest`` (.json) of about ``target_bytes`` and its ``.json.gz`` twin (reused when present)."""
    gz_path = dest.with_suffix(".json.gz") if gz else None
    if dest.exists() and (gz_path is None or gz_path.exists()) and dest.stat().st_size >= target_bytes * 0.9:
        return dest, gz_path
    head, tail, items = carefirst_items(1773)
    head = _REMOTE_REF.sub(_in_file_group, head)  # in-file references: resolvable, and the peer reads them
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
    if gz_path is not None:
        with dest.open("rb") as src, gzip.open(gz_path, "wb", compresslevel=6) as out:
            while chunk := src.read(8 << 20):
                out.write(chunk)
    return dest, gz_path


def floor_read(path: Path) -> int:
    total = 0
    with path.open("rb") as handle:
        while chunk := handle.read(4 << 20):
            total += len(chunk)
    return total


def floor_gunzip(path: Path) -> int:
    return sum(len(c) for c in open_chunks(path))


def floor_split(path: Path) -> int:
    """Elements found by the reader thread's compiled scan (``positions.py``), reading included: how fast the file
    can be cut into items with nothing decoded."""
    return sum(len(found.starts) for _, found in ElementIndex().scan(open_chunks(path)))


def normalize_to_parquet(path: Path, out_dir: Path, *, whitelist: bool) -> int:
    """The task: every table to parquet (zstd) as the asset writes them (``write_parts``); returns rate rows."""
    config = FileConfig(
        payer="bench", url=f"https://bench.example/{path.name}", whitelist=load_whitelist() if whitelist else None
    )
    normalizer = Normalizer(config)
    write_parts(normalizer.run(open_chunks(path)), out_dir)
    return normalizer.summary.rate_rows


def split_to_parquet(path: Path, out_dir: Path, *, whitelist: bool, workers: int = 2) -> int:
    """The task with one file split over ``workers`` processes (``parallel.py``), as the asset runs a large
    ``.json``; the parts are written, the IO manager's join of them is not part of this figure."""
    config = FileConfig(
        payer="bench", url=f"https://bench.example/{path.name}", whitelist=load_whitelist() if whitelist else None
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    done = normalize_split(path, config, out_dir, workers=workers)
    if done is None:
        raise RuntimeError(f"{path.name} did not split")
    return done[0].rate_rows


def _children_rss() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def _pass(task: str, path: Path, out_dir: Path) -> dict[str, float | int]:
    """One task in this (fresh) process: wall, CPU of this process and its children, rows, peak RSS."""
    fns: dict[str, Callable[[], int]] = {
        "floor_read": lambda: floor_read(path),
        "floor_gunzip_isal": lambda: floor_gunzip(path),
        "floor_split": lambda: floor_split(path),
        "whitelist": lambda: normalize_to_parquet(path, out_dir, whitelist=True),
        "all_codes": lambda: normalize_to_parquet(path, out_dir, whitelist=False),
        "whitelist_split2": lambda: split_to_parquet(path, out_dir, whitelist=True),
    }
    cpu0, wall0 = os.times(), time.perf_counter()
    count = fns[task]()
    wall, cpu1 = time.perf_counter() - wall0, os.times()
    cpu = sum(cpu1[:4]) - sum(cpu0[:4])
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "count": count,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "workers_peak_rss_bytes": _children_rss(),
    }


def run_pass(task: str, path: Path, out_dir: Path) -> dict[str, float | int]:
    """:func:`_pass` in a fresh spawned process (its peak RSS is the task's own, not an earlier task's)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_pass, task, path, out_dir).result()


def peer(path: Path, out_dir: Path) -> dict[str, float | int | str]:
    """cms-mrf-extractor (PyPI; the ``bench`` dependency group) on the same file, as ``tic-floors.md`` ran it:
    ``MRF_ID_TYPE=decimal128`` (its float-id workaround). Wall, CPU and peak RSS of its process tree."""
    if importlib.util.find_spec("cms_mrf_extractor") is None:
        return {"skipped": "cms-mrf-extractor not installed (uv sync --group bench)"}
    source = out_dir / "src"
    source.mkdir(parents=True, exist_ok=True)
    link = source / path.name
    link.unlink(missing_ok=True)
    link.symlink_to(path)
    env = {**os.environ, "MRF_ID_TYPE": "decimal128"}
    command = [sys.executable, "-m", "cms_mrf_extractor", str(source), "-o", str(out_dir / "out"), "-q"]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read().decode(errors="replace")[-500:] if child.stderr else ""
    if child.returncode:
        return {"error": f"exit {child.returncode}: {err}"}
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_bytes": usage.ru_maxrss * 1024,
    }


def measure(work: Path, target_bytes: int) -> dict[str, float | int | str]:
    """Every floor, task and peer figure on one input of ``target_bytes``, and the whitelist task on one three
    times as large; each with its MB/s of wall, MB per CPU-second, and peak RSS; the 1-minute load average."""
    json_path, gz_path = make_input(work / f"carefirst_{target_bytes >> 20}mb.json", target_bytes)
    big_path, _ = make_input(work / f"carefirst_{3 * target_bytes >> 20}mb.json", 3 * target_bytes, gz=False)
    size, big = json_path.stat().st_size, big_path.stat().st_size
    figures: dict[str, float | int | str] = {
        "json_bytes": size,
        "gz_bytes": gz_path.stat().st_size,
        "big_json_bytes": big,
    }
    figures["load_average_1m_start"] = round(os.getloadavg()[0], 2)
    for name, task, path, nbytes in (
        ("floor_read", "floor_read", json_path, size),
        ("floor_gunzip_isal", "floor_gunzip_isal", gz_path, size),
        ("floor_split", "floor_split", json_path, size),
        ("whitelist_json", "whitelist", json_path, size),
        ("whitelist_gz", "whitelist", gz_path, size),
        ("all_codes_json", "all_codes", json_path, size),
        ("whitelist_json_split2", "whitelist_split2", json_path, size),
        ("whitelist_json_3x", "whitelist", big_path, big),
        ("whitelist_json_3x_split2", "whitelist_split2", big_path, big),
    ):
        got = run_pass(task, path, work / "out" / name)
        figures[f"{name}_mb_s"] = round(nbytes / 1e6 / got["seconds"], 1)
        figures[f"{name}_mb_per_cpu_s"] = round(nbytes / 1e6 / max(got["cpu_seconds"], 1e-9), 1)
        figures[f"{name}_count"] = got["count"]
        figures[f"{name}_peak_rss_bytes"] = got["peak_rss_bytes"]
        if task == "whitelist_split2":  # the workers' peak RSS
            figures[f"{name}_workers_peak_rss_bytes"] = got["workers_peak_rss_bytes"]
    figures["process_peak_rss_bytes"] = max(
        figures[f"{n}_peak_rss_bytes"] for n in ("whitelist_json", "whitelist_gz", "all_codes_json")
    )
    got = peer(json_path, work / "peer")
    if "seconds" in got:
        figures["peer_cms_mrf_extractor_mb_s"] = round(size / 1e6 / got["seconds"], 1)
        figures["peer_cms_mrf_extractor_mb_per_cpu_s"] = round(size / 1e6 / max(got["cpu_seconds"], 1e-9), 1)
        figures["peer_cms_mrf_extractor_peak_rss_bytes"] = got["peak_rss_bytes"]
        figures["whitelist_json_vs_peer"] = round(
            figures["whitelist_json_mb_s"] / figures["peer_cms_mrf_extractor_mb_s"], 2
        )
    else:
        figures["peer_cms_mrf_extractor"] = json.dumps(got)
    figures["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    return figures

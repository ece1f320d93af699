"""Benchmark every stage of the pipeline against its floor, on the sample world at a given scale.

    ./run python -m benchmarks.run --scale 0.1        # default scale; 1.0 = the real sizes

Generates the sample world (or reuses a current one), serves it on loopback in this process, then runs the
stages in child processes (``benchmarks.stages``) through the same Definitions and Runner the CLI uses,
each beside its floor measured in the same run. Prints a table and writes it, with every raw figure and the
machine, to ``benchmarks/results/<utc time>-scale<scale>.json``. Work files go to a temp folder (removed
at the end unless ``--keep``), never to ``data/`` or ``dagster_home/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import disk_path
from medicaid_assets.sample_world.world import generate_world
from medicaid_assets.settings import DEFAULT_SPENDING_URL

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Child processes, in order: (stages, data folder). Stages of one child share its process; the NPPES build
# and the whole-chain runs get a process of their own, so their peak RSS is theirs alone.
GROUPS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("prepare", "spending", "distinct"), "stages"),
    (("nppes",), "stages"),
    (("nppes_floor",), "stages"),
    (("weekly", "resolution", "outputs"), "stages"),
    (("pfs_amounts", "marts"), "stages"),
    (("main_cold",), "main"),
    (("main_warm",), "main"),
    (("resdac_fixed_width",), "stages"),
    (("resdac_sketches",), "stages"),
    (("synthetic_medicare",), "synthetic_medicare"),
    (("price_transparency",), "stages"),
    (("rates_benchmarks",), "rates"),
    (("rates_phase2",), "rates"),
    (("rates_memory_1x",), "rates"),
    (("rates_memory_10x",), "rates"),
)


def child_groups(shared: bool) -> list[tuple[tuple[str, ...], str]]:
    """:data:`GROUPS`, or with ``shared`` each run of consecutive groups on one data folder merged into one child:
    6 processes instead of 13, each paying the imports and Definitions once (seconds each; at tiny scale, most of
    the wall). Peak RSS is then shared by the stages of a child."""
    if not shared:
        return list(GROUPS)
    merged: list[tuple[tuple[str, ...], str]] = []
    for names, folder in GROUPS:
        if merged and merged[-1][1] == folder:
            merged[-1] = (merged[-1][0] + names, folder)
        else:
            merged.append((names, folder))
    return merged


# Disk a run needs per unit of scale (world + one data folder + warehouse + DuckDB spill; ~3.2 GB measured at 0.1).
DISK_PER_SCALE = 40e9
GIB = 1024**3


def machine() -> dict[str, Any]:
    """Cores, memory and software of this machine, for the JSON and the table's heading."""
    import dagster
    import duckdb
    import polars
    import pyarrow

    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": cores,
        "memory_bytes": mem_total,
        "cpu": cpu,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
        "pyarrow": pyarrow.__version__,
        "dagster": dagster.__version__,
    }


def run_child(plan: dict, log: Path) -> tuple[dict, dict[str, Any]]:
    """Run one child process on ``plan``; return its results and its process figures (wall, peak RSS)."""
    plan_path = Path(plan["scratch_dir"]) / f"plan-{plan['stages'][0]}.json"
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_text(json.dumps(plan, indent=2))
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.stages", str(plan_path)], cwd=PROJECT_ROOT, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    process = {
        "wall": round(time.perf_counter() - started, 3),
        "peak_rss_bytes": usage.ru_maxrss * 1024,  # KiB on Linux
        "exit_code": child.returncode,
        "log": str(log),
    }
    result_path = Path(plan["result_path"])
    results = json.loads(result_path.read_text()) if result_path.is_file() else {}
    return results, process


def _fmt_s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:,.2f} s"


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / GIB:.2f} GiB"


def _ratio(value: float | None, floor: float | None) -> float | None:
    return round(value / floor, 3) if value is not None and floor else None


def _row(stage: str, figure: str, floor: str, ratio: float | None, target: str, met: bool) -> dict[str, Any]:
    return {"stage": stage, "figure": figure, "floor": floor, "ratio": ratio, "target": target, "met": met}


def _at_most(stage: str, figure: str, floor: str, value: float | None, base: float | None, limit: float) -> dict:
    """A row whose target is ``value / base`` at most ``limit`` times."""
    ratio = _ratio(value, base)
    return _row(stage, figure, floor, ratio, f"≤ {limit:g}×", ratio is not None and ratio <= limit)


def table_rows(stages: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per stage of the issue's table: figure, floor, ratio, target, met."""
    s, d, w, o = (stages.get(name, {}) for name in ("spending", "distinct", "weekly", "outputs"))
    n, nf, r, p = (stages.get(name, {}) for name in ("nppes", "nppes_floor", "resolution", "pfs_amounts"))
    k, c, a = (stages.get(name, {}) for name in ("marts", "main_cold", "main_warm"))
    f, hll, sm = (stages.get(name, {}) for name in ("resdac_fixed_width", "resdac_sketches", "synthetic_medicare"))
    pt, b, r2 = (stages.get(name, {}) for name in ("price_transparency", "rates_benchmarks", "rates_phase2"))
    m1, m10 = (stages.get(name, {}) for name in ("rates_memory_1x", "rates_memory_10x"))
    memory_growth = _ratio(m10.get("peak_rss_bytes"), m1.get("peak_rss_bytes"))
    nppes_ratio, nppes_rss = (
        _ratio(n.get("wall"), nf.get("floor")),
        n.get("process_peak_rss_bytes") or n.get("peak_rss_bytes"),
    )
    rate, requests, needed = r.get("lookups_per_second"), r.get("requests"), r.get("needed_requests")
    warm_ratio = _ratio(a.get("wall"), c.get("wall"))
    fixed_width_ratio = f.get("throughput_vs_floor")
    errors = hll.get("relative_error") or {}
    landing = _ratio(sm.get("floor"), sm.get("wall"))  # landing throughput over the floor's
    pt_rss, mb_s = pt.get("process_peak_rss_bytes") or pt.get("peak_rss_bytes"), pt.get("whitelist_json_mb_s")
    split_mb_s, peer_mb_s = pt.get("whitelist_json_split2_mb_s"), pt.get("peer_cms_mrf_extractor_mb_s")
    split_3x_mb_s = pt.get("whitelist_json_3x_split2_mb_s")
    rows = [
        _at_most(
            "spending → partitioned warehouse table",
            f"{_fmt_s(s.get('wall'))}, {s.get('rows_per_second') or 0:,} rows/s",
            f"CTAS {_fmt_s(s.get('floor'))}, {s.get('floor_rows_per_second') or 0:,} rows/s",
            s.get("wall"),
            s.get("floor"),
            1.5,
        ),
        _at_most(
            "distinct identifiers",
            _fmt_s(d.get("wall")),
            f"SELECT DISTINCT {_fmt_s(d.get('floor'))}",
            d.get("wall"),
            d.get("floor"),
            1.2,
        ),
        _row(
            "NPPES monthly → provider table",
            f"{_fmt_s(n.get('wall'))}, {n.get('mb_per_second') or 0} MB/s, peak RSS {_gib(nppes_rss)}",
            f"polars scan_csv→parquet {_fmt_s(nf.get('floor'))}, {nf.get('mb_per_second') or 0} MB/s, "
            f"peak RSS {_gib(nf.get('process_peak_rss_bytes'))}",
            nppes_ratio,
            "≤ 1.5×; peak RSS ≤ 3 GB",
            nppes_ratio is not None and nppes_ratio <= 1.5 and nppes_rss is not None and nppes_rss <= 3e9,
        ),
        _at_most(
            "one weekly partition applied",
            _fmt_s(w.get("wall")),
            f"full rebuild {_fmt_s(w.get('floor'))}",
            w.get("wall"),
            w.get("floor"),
            0.05,
        ),
        _row(
            f"NPI + HCPCS resolution, emulator unthrottled (concurrency {r.get('concurrency')})",
            f"{r.get('lookups') or 0:,} lookups at {rate or 0:,} lookups/s, {requests} requests "
            f"(step {_fmt_s(r.get('wall'))})",
            f"{needed} requests needed",
            _ratio(requests, needed),
            "≥ 500 lookups/s; requests = needed",
            rate is not None and rate >= 500 and requests == needed,
        ),
        _at_most(
            "resolved outputs (npi/hcpcs parquet, mappings)",
            _fmt_s(o.get("wall")),
            f"pyarrow write {_fmt_s(o.get('floor'))}",
            o.get("wall"),
            o.get("floor"),
            2,
        ),
        _row(
            "PFS amounts, every code × modifier × locality, real size",
            f"{_fmt_s(p.get('wall'))} for {p.get('amount_rows') or 0:,} amounts "
            f"({p.get('pprrvu_rows') or 0:,} PPRRVU rows × {p.get('localities')} localities) + state averages",
            "—",
            None,
            "≤ 2 s",
            p.get("wall") is not None and p["wall"] <= 2,
        ),
        _at_most(
            "spending_enriched, every month",
            f"{_fmt_s(k.get('wall'))}, {k.get('rows_per_second') or 0:,} rows/s",
            f"bare DuckDB join into a table {_fmt_s(k.get('floor'))}",
            k.get("wall"),
            k.get("floor"),
            1.5,
        ),
        _at_most(
            "spending_enriched, one new month",
            _fmt_s(k.get("month_wall")),
            f"full build {_fmt_s(k.get('wall'))}",
            k.get("month_wall"),
            k.get("wall"),
            0.05,
        ),
        _row(
            "main job, cold, whole chain",
            f"{_fmt_s(c.get('wall'))}, peak RSS {_gib(c.get('process_peak_rss_bytes'))}, {c.get('requests')} requests",
            "—",
            None,
            "reported",
            c.get("wall") is not None,
        ),
        _row(
            "main job again, nothing new",
            f"{_fmt_s(a.get('wall'))}, {a.get('requests')} requests",
            f"cold run {_fmt_s(c.get('wall'))}",
            warm_ratio,
            "≤ 0.05×; 0 requests",
            warm_ratio is not None and warm_ratio <= 0.05 and a.get("requests") == 0,
        ),
        _row(
            "ResDAC MBSF .dat → DuckDB (185 fields)",
            f"{_fmt_s(f.get('wall'))}, {f.get('mb_per_second')} MB/s, peak RSS {_gib(f.get('loader_peak_rss_bytes'))}",
            f"DuckDB substr CTAS {_fmt_s(f.get('floor'))}, {f.get('floor_mb_per_second')} MB/s",
            fixed_width_ratio,
            "throughput ≥ 0.7× floor",
            fixed_width_ratio is not None and fixed_width_ratio >= 0.7,
        ),
        _row(
            "ResDAC QC rollup by year from HLL sketches",
            f"{_fmt_s(hll.get('wall'))}, HLL error {', '.join(f'{e:+.2%}' for e in errors.values()) or '—'}",
            f"exact count(DISTINCT) {_fmt_s(hll.get('floor'))}",
            hll.get("speedup"),
            "≥ 10× faster",
            (hll.get("speedup") or 0) >= 10,
        ),
        _row(
            "synthetic Medicare landing (all file types → parquet per year)",
            f"{_fmt_s(sm.get('wall'))} (step {_fmt_s(sm.get('step_wall'))}), {sm.get('mb_per_second') or 0} "
            f"MB/s; dbt build {_fmt_s(sm.get('dbt_build'))}",
            f"DuckDB read_csv→parquet {_fmt_s(sm.get('floor'))}, {sm.get('floor_mb_per_second') or 0} MB/s",
            landing,
            "throughput ≥ 0.7× the floor's",
            landing is not None and landing >= 0.7,
        ),
        _at_most(
            "synthetic Medicare job again, nothing new",
            _fmt_s(sm.get("job_warm")),
            f"cold run {_fmt_s(sm.get('job_cold'))}",
            sm.get("job_warm"),
            sm.get("job_cold"),
            0.1,
        ),
        _row(
            f"price transparency: in-network JSON → rates/orgs/providers parquet with ids, 500-code "
            f"whitelist ({(pt.get('json_bytes') or 0) / 1e9:.2f} GB, 1 process)",
            f"{mb_s or 0} MB/s .json, {pt.get('whitelist_gz_mb_s') or 0} MB/s .json.gz, "
            f"{pt.get('all_codes_json_mb_s') or 0} MB/s all codes; peak RSS {_gib(pt_rss)}",
            f"read {pt.get('floor_read_mb_s') or 0}, ISA-L gunzip {pt.get('floor_gunzip_isal_mb_s') or 0}, "
            f"split {pt.get('floor_split_mb_s') or 0} MB/s",
            _ratio(pt.get("floor_split_mb_s"), mb_s),
            "≥ 350 MB/s (150 all codes); peak RSS < 300 MB",
            bool(mb_s and mb_s >= 350 and (pt.get("all_codes_json_mb_s") or 0) >= 150 and pt_rss and pt_rss < 300e6),
        ),
        _row(
            "price transparency: one .json split over 2 processes; the same task on a 3× input; the peer",
            f"{split_mb_s or 0} MB/s 2 processes ({split_3x_mb_s or 0} MB/s on the 3× input; workers' peak RSS "
            f"{_gib(pt.get('whitelist_json_split2_workers_peak_rss_bytes'))}); 3×: "
            f"{pt.get('whitelist_json_3x_mb_s') or 0} MB/s, peak RSS {_gib(pt.get('whitelist_json_3x_peak_rss_bytes'))} "
            f"(1×: {_gib(pt.get('whitelist_json_peak_rss_bytes'))})",
            f"cms-mrf-extractor {peer_mb_s or pt.get('peer_cms_mrf_extractor') or '—'} MB/s, peak RSS "
            f"{_gib(pt.get('peer_cms_mrf_extractor_peak_rss_bytes'))}",
            _ratio(mb_s, peer_mb_s),
            "≥ 600 MB/s with 2; ≥ 2.5× the peer; RSS flat",
            bool(
                split_mb_s
                and split_3x_mb_s
                and min(split_mb_s, split_3x_mb_s) >= 600
                and peer_mb_s
                and mb_s
                and mb_s >= 2.5 * peer_mb_s
            ),
        ),
        _row(
            "Medicare OPPS + ASC benchmarks (rates warehouse)",
            f"{_fmt_s(b.get('wall'))} (compute {_fmt_s(b.get('compute'))}), {b.get('rows') or 0:,} rows",
            f"bare DuckDB COPY of the same rows {_fmt_s(b.get('floor'))}",
            _ratio(b.get("wall"), b.get("floor")),
            "reported (the issue's ≤ 1.5× is for the PFS benchmark, phase 2)",
            b.get("rows") is not None and "error" not in b,
        ),
    ]
    rows.append(
        _row(
            "rates warehouse memory: fact_rate_enriched tiles + the fact's Iceberg partition, 10× the facts",
            f"10×: {m10.get('rows') or 0:,} facts, peak RSS {_gib(m10.get('peak_rss_bytes'))} "
            f"({_fmt_s(m10.get('tiles_and_iceberg'))})",
            f"1×: {m1.get('rows') or 0:,} facts, peak RSS {_gib(m1.get('peak_rss_bytes'))} "
            f"({_fmt_s(m1.get('tiles_and_iceberg'))})",
            memory_growth,
            "peak RSS at 10× ≤ 2× the 1× run's (bounded, not proportional)",
            memory_growth is not None and memory_growth <= 2,
        )
    )
    for name, what, floor in (
        ("professional", "Medicare professional benchmark, every code × locality", "the same query, bare `COPY`"),
        ("tiles", "fact_rate_enriched tiles (Hive-partitioned ZSTD parquet)", "bare `COPY … PARTITION_BY`"),
    ):
        rows.append(
            _row(
                f"{what}, {r2.get(f'{name}_rows') or 0:,} rows",
                f"{_fmt_s(r2.get(name))} (compute {_fmt_s(r2.get(f'{name}_compute'))})",
                f"{floor} {_fmt_s(r2.get(f'{name}_floor'))}",
                _ratio(r2.get(name), r2.get(f"{name}_floor")),
                "≤ 1.5×",
                r2.get(name) is not None and r2.get(name) <= 1.5 * (r2.get(f"{name}_floor") or 0),
            )
        )
    return rows


def _load_range(stages: dict[str, dict]) -> str:
    loads = [v for figures in stages.values() for v in figures.get("load_average", [])]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "-"


def render(result: dict[str, Any]) -> str:
    m, w = result["machine"], result["world"]
    lines = [
        f"scale {result['scale']}: {w['spending_rows']:,} spending rows, {w['nppes_rows']:,} NPPES rows "
        f"({w['nppes_csv_bytes'] / 1e9:.2f} GB of CSV), {w['dataset_npis']:,} dataset NPIs; "
        f"{m['cores']} cores ({m['cpu']}), {(m['memory_bytes'] or 0) / GIB:.1f} GiB RAM, {m['system']}; "
        f"duckdb {m['duckdb']}, polars {m['polars']}, pyarrow {m['pyarrow']}, dagster {m['dagster']}",
        f"world generated in {result['world_seconds']:.0f} s; benchmark total {result['total_seconds']:.0f} s; "
        f"1-minute load average during the stages {_load_range(result['stages'])} (other work on the machine "
        "slows every figure; ratios are measured back to back in the same run)",
        "",
        "| stage | figure | floor, same run | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["table"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.3g}×"
        lines.append(
            f"| {row['stage']} | {row['figure']} | {row['floor']} | {ratio} | {row['target']} | "
            f"{'yes' if row['met'] else 'NO'} |"
        )
    errors = {k: v["error"] for k, v in result["stages"].items() if v.get("error")}
    for name, error in errors.items():
        lines += ["", f"stage {name} FAILED:", error]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=0.1, help="sample-world scale, 1.0 = real sizes (default 0.1)")
    p.add_argument("--seed", type=int, default=WorldSpec.seed)
    p.add_argument("--work-dir", type=Path, help="make the run's temp folder in here (default: the system temp dir)")
    p.add_argument("--world-dir", type=Path, help="generate (or reuse a current) world here instead")
    p.add_argument("--keep", action="store_true", help="keep the work folder (default: removed at the end)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON goes (%(default)s)")
    p.add_argument("--concurrency", type=int, default=16, help="API requests in flight, per API (default 16)")
    p.add_argument(
        "--instance",
        choices=("persistent", "ephemeral"),
        default="persistent",
        help="Dagster instance of the runs: persistent = SQLite on disk with the project's dagster.yaml, as users "
        "run (default); ephemeral = in memory (no event-log writes; the smoke test uses it)",
    )
    p.add_argument(
        "--shared-processes",
        action="store_true",
        help="run consecutive stages on one data folder in one child process (fewer imports; peak RSS figures are "
        "then shared by those stages: the smoke test uses it)",
    )
    p.add_argument(
        "--resdac-dat-bytes",
        type=float,
        default=200e6,
        help="size of the ResDAC MBSF .dat the fixed-width stage loads (default 200 MB; 1e9 and 5e9 show RSS)",
    )
    return p


def _world_figures(info: dict, world_dir: Path) -> dict[str, Any]:
    """Sizes of the generated world, from its ``world.json`` summary."""
    spec = WorldSpec(**info["spec"])
    spending = info["summary"]["spending"]["files"].get(str(disk_path(DEFAULT_SPENDING_URL)), {})
    monthly = info["summary"]["nppes"]["monthly"]
    return {
        "spending_rows": spending.get("rows", spec.spending_rows),
        "dataset_npis": spending.get("npis", spec.dataset_npis),
        "distinct_codes": spending.get("code_values", spec.distinct_codes),
        "nppes_rows": next((v for k, v in monthly["rows"].items() if k.startswith("npidata")), spec.registered),
        "nppes_zip_bytes": (world_dir / "files" / monthly["zip"]).stat().st_size,
        "nppes_csv_bytes": 0,  # filled from the NPPES stage (the extracted CSVs)
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    spec = WorldSpec(seed=args.seed, scale=args.scale)
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="medicaid-bench-", dir=args.work_dir))  # ours alone: removed at the end
    world_dir = args.world_dir or work / "world"
    free = shutil.disk_usage(work).free
    need = DISK_PER_SCALE * args.scale
    if free < need:
        print(f"warning: {work} has {free / 1e9:.0f} GB free; scale {args.scale} needs about {need / 1e9:.0f} GB")
    started = time.perf_counter()
    print(f"sample world, scale {args.scale}, in {world_dir} ...", flush=True)
    info = generate_world(world_dir, spec)
    world_seconds = time.perf_counter() - started
    world = _world_figures(info, world_dir)
    stages: dict[str, dict] = {}
    processes: list[dict] = []
    try:
        with WorldServer(world_dir) as server:
            for names, folder in child_groups(args.shared_processes):
                if folder == "main" and not args.keep:
                    shutil.rmtree(work / "stages", ignore_errors=True)  # the whole-chain runs start from nothing
                base = work / folder
                plan = {
                    "stages": list(names),
                    "data_dir": str(base / "data"),
                    "dagster_home": str(base / "dagster_home"),
                    "scratch_dir": str(base / "scratch"),
                    "result_path": str(base / "scratch" / f"result-{names[0]}.json"),
                    "base_url": server.base_url,
                    "concurrency": args.concurrency,
                    "instance": args.instance,
                    "resdac_dat_bytes": args.resdac_dat_bytes,
                    "resdac_enrollment_rows": max(100_000, round(50e6 * args.scale)),
                    "scale": args.scale,
                }
                print(f"  {', '.join(names)} ...", flush=True)
                results, process = run_child(plan, work / f"log-{names[0]}.txt")
                process["stages"] = list(names)
                processes.append(process)
                for name in names:
                    figures = results.get(name, {"error": f"did not run; see {process['log']}"})
                    if len(names) == 1:
                        figures["process_peak_rss_bytes"] = process["peak_rss_bytes"]
                        figures["process_wall"] = process["wall"]
                    stages[name] = figures
                    summary = {k: v for k, v in figures.items() if k in ("wall", "floor", "stage_seconds")}
                    print(f"    {name}: {summary}{'  FAILED' if figures.get('error') else ''}", flush=True)
                if process["exit_code"] != 0 and not results:
                    print(f"    child failed; its log: {process['log']}", flush=True)
    finally:
        if args.keep:
            print(f"work files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    world["nppes_csv_bytes"] = stages.get("nppes", {}).get("csv_bytes") or 0
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "seed": args.seed,
        "machine": machine(),
        "world": world,
        "world_seconds": round(world_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "concurrency": args.concurrency,
        "instance": args.instance,
        "stages": stages,
        "processes": processes,
        "table": table_rows(stages),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.results_dir / f"{stamp}-scale{args.scale:g}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print()
    print(render(result))
    print(f"\nwritten: {out}")
    failed = any(v.get("error") for v in stages.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

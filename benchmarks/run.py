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


def table_rows(stages: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per stage of the issue's table: figure, floor, ratio, target, met."""
    rows: list[dict[str, Any]] = []

    def get(stage: str, key: str) -> Any:
        return stages.get(stage, {}).get(key)

    s = stages.get("spending", {})
    ratio = _ratio(s.get("wall"), s.get("floor"))
    rows.append(
        {
            "stage": "spending → partitioned warehouse table",
            "figure": f"{_fmt_s(s.get('wall'))}, {s.get('rows_per_second') or 0:,} rows/s",
            "floor": f"CTAS {_fmt_s(s.get('floor'))}, {s.get('floor_rows_per_second') or 0:,} rows/s",
            "ratio": ratio,
            "target": "≤ 1.5×",
            "met": ratio is not None and ratio <= 1.5,
        }
    )
    d = stages.get("distinct", {})
    ratio = _ratio(d.get("wall"), d.get("floor"))
    rows.append(
        {
            "stage": "distinct identifiers",
            "figure": _fmt_s(d.get("wall")),
            "floor": f"SELECT DISTINCT {_fmt_s(d.get('floor'))}",
            "ratio": ratio,
            "target": "≤ 1.2×",
            "met": ratio is not None and ratio <= 1.2,
        }
    )
    n, nf = stages.get("nppes", {}), stages.get("nppes_floor", {})
    ratio = _ratio(n.get("wall"), nf.get("floor"))
    rss = n.get("process_peak_rss_bytes") or n.get("peak_rss_bytes")
    rows.append(
        {
            "stage": "NPPES monthly → provider table",
            "figure": f"{_fmt_s(n.get('wall'))}, {n.get('mb_per_second') or 0} MB/s, peak RSS {_gib(rss)}",
            "floor": f"polars scan_csv→parquet {_fmt_s(nf.get('floor'))}, {nf.get('mb_per_second') or 0} MB/s, "
            f"peak RSS {_gib(nf.get('process_peak_rss_bytes'))}",
            "ratio": ratio,
            "target": "≤ 1.5×; peak RSS ≤ 3 GB",
            "met": ratio is not None and ratio <= 1.5 and rss is not None and rss <= 3e9,
        }
    )
    w = stages.get("weekly", {})
    ratio = _ratio(w.get("wall"), w.get("floor"))
    rows.append(
        {
            "stage": "one weekly partition applied",
            "figure": _fmt_s(w.get("wall")),
            "floor": f"full rebuild {_fmt_s(w.get('floor'))}",
            "ratio": ratio,
            "target": "≤ 0.05×",
            "met": ratio is not None and ratio <= 0.05,
        }
    )
    r = stages.get("resolution", {})
    rate, requests, needed = r.get("lookups_per_second"), r.get("requests"), r.get("needed_requests")
    rows.append(
        {
            "stage": f"NPI + HCPCS resolution, emulator unthrottled (concurrency {r.get('concurrency')})",
            "figure": f"{r.get('lookups') or 0:,} lookups at {rate or 0:,} lookups/s, {requests} requests "
            f"(step {_fmt_s(r.get('wall'))})",
            "floor": f"{needed} requests needed",
            "ratio": _ratio(requests, needed),
            "target": "≥ 500 lookups/s; requests = needed",
            "met": rate is not None and rate >= 500 and requests == needed,
        }
    )
    o = stages.get("outputs", {})
    ratio = _ratio(o.get("wall"), o.get("floor"))
    rows.append(
        {
            "stage": "resolved outputs (npi/hcpcs parquet, mappings)",
            "figure": _fmt_s(o.get("wall")),
            "floor": f"pyarrow write {_fmt_s(o.get('floor'))}",
            "ratio": ratio,
            "target": "≤ 2×",
            "met": ratio is not None and ratio <= 2,
        }
    )
    p = stages.get("pfs_amounts", {})
    rows.append(
        {
            "stage": "PFS amounts, every code × modifier × locality, real size",
            "figure": f"{_fmt_s(p.get('wall'))} for {p.get('amount_rows') or 0:,} amounts "
            f"({p.get('pprrvu_rows') or 0:,} PPRRVU rows × {p.get('localities')} localities) + state averages",
            "floor": "—",
            "ratio": None,
            "target": "≤ 2 s",
            "met": p.get("wall") is not None and p["wall"] <= 2,
        }
    )
    k = stages.get("marts", {})
    ratio = _ratio(k.get("wall"), k.get("floor"))
    rows.append(
        {
            "stage": "spending_enriched, every month",
            "figure": f"{_fmt_s(k.get('wall'))}, {k.get('rows_per_second') or 0:,} rows/s",
            "floor": f"bare DuckDB join into a table {_fmt_s(k.get('floor'))}",
            "ratio": ratio,
            "target": "≤ 1.5×",
            "met": ratio is not None and ratio <= 1.5,
        }
    )
    ratio = _ratio(k.get("month_wall"), k.get("wall"))
    rows.append(
        {
            "stage": "spending_enriched, one new month",
            "figure": _fmt_s(k.get("month_wall")),
            "floor": f"full build {_fmt_s(k.get('wall'))}",
            "ratio": ratio,
            "target": "≤ 0.05×",
            "met": ratio is not None and ratio <= 0.05,
        }
    )
    c = stages.get("main_cold", {})
    rows.append(
        {
            "stage": "main job, cold, whole chain",
            "figure": f"{_fmt_s(c.get('wall'))}, peak RSS {_gib(c.get('process_peak_rss_bytes'))}, "
            f"{c.get('requests')} requests",
            "floor": "—",
            "ratio": None,
            "target": "reported",
            "met": get("main_cold", "wall") is not None,
        }
    )
    a = stages.get("main_warm", {})
    ratio = _ratio(a.get("wall"), c.get("wall"))
    rows.append(
        {
            "stage": "main job again, nothing new",
            "figure": f"{_fmt_s(a.get('wall'))}, {a.get('requests')} requests",
            "floor": f"cold run {_fmt_s(c.get('wall'))}",
            "ratio": ratio,
            "target": "≤ 0.05×; 0 requests",
            "met": ratio is not None and ratio <= 0.05 and a.get("requests") == 0,
        }
    )
    f = stages.get("resdac_fixed_width", {})
    ratio = f.get("throughput_vs_floor")
    rows.append(
        {
            "stage": "ResDAC MBSF .dat → DuckDB (185 fields)",
            "figure": f"{_fmt_s(f.get('wall'))}, {f.get('mb_per_second')} MB/s, peak RSS "
            f"{_gib(f.get('loader_peak_rss_bytes'))}",
            "floor": f"DuckDB substr CTAS {_fmt_s(f.get('floor'))}, {f.get('floor_mb_per_second')} MB/s",
            "ratio": ratio,
            "target": "throughput ≥ 0.7× floor",
            "met": ratio is not None and ratio >= 0.7,
        }
    )
    k = stages.get("resdac_sketches", {})
    errors = k.get("relative_error") or {}
    rows.append(
        {
            "stage": "ResDAC QC rollup by year from HLL sketches",
            "figure": f"{_fmt_s(k.get('wall'))}, HLL error {', '.join(f'{e:+.2%}' for e in errors.values()) or '—'}",
            "floor": f"exact count(DISTINCT) {_fmt_s(k.get('floor'))}",
            "ratio": k.get("speedup"),
            "target": "≥ 10× faster",
            "met": (k.get("speedup") or 0) >= 10,
        }
    )
    sm = stages.get("synthetic_medicare", {})
    throughput = _ratio(sm.get("floor"), sm.get("wall"))  # landing throughput over the floor's
    rows.append(
        {
            "stage": "synthetic Medicare landing (all file types → parquet per year)",
            "figure": f"{_fmt_s(sm.get('wall'))} (step {_fmt_s(sm.get('step_wall'))}), {sm.get('mb_per_second') or 0} "
            f"MB/s; dbt build {_fmt_s(sm.get('dbt_build'))}",
            "floor": f"DuckDB read_csv→parquet {_fmt_s(sm.get('floor'))}, {sm.get('floor_mb_per_second') or 0} MB/s",
            "ratio": throughput,
            "target": "throughput ≥ 0.7× the floor's",
            "met": throughput is not None and throughput >= 0.7,
        }
    )
    ratio = _ratio(sm.get("job_warm"), sm.get("job_cold"))
    rows.append(
        {
            "stage": "synthetic Medicare job again, nothing new",
            "figure": _fmt_s(sm.get("job_warm")),
            "floor": f"cold run {_fmt_s(sm.get('job_cold'))}",
            "ratio": ratio,
            "target": "≤ 0.1×",
            "met": ratio is not None and ratio <= 0.1,
        }
    )
    p = stages.get("price_transparency", {})
    rss = p.get("process_peak_rss_bytes") or p.get("peak_rss_bytes")
    mb_s = p.get("whitelist_json_mb_s")
    rows.append(
        {
            "stage": f"price transparency: in-network JSON → rates/orgs/providers parquet with ids, 500-code "
            f"whitelist ({(p.get('json_bytes') or 0) / 1e9:.2f} GB, 1 process)",
            "figure": f"{mb_s or 0} MB/s .json, {p.get('whitelist_gz_mb_s') or 0} MB/s .json.gz, "
            f"{p.get('all_codes_json_mb_s') or 0} MB/s all codes; peak RSS {_gib(rss)}",
            "floor": f"read {p.get('floor_read_mb_s') or 0}, ISA-L gunzip {p.get('floor_gunzip_isal_mb_s') or 0}, "
            f"split {p.get('floor_split_mb_s') or 0} MB/s",
            "ratio": _ratio(p.get("floor_split_mb_s"), mb_s),
            "target": "≥ 350 MB/s (150 all codes); peak RSS < 300 MB",
            "met": mb_s is not None and mb_s >= 350 and rss is not None and rss < 300e6,
        }
    )
    b = stages.get("rates_benchmarks", {})
    rows.append(
        {
            "stage": "Medicare OPPS + ASC benchmarks (rates warehouse)",
            "figure": f"{_fmt_s(b.get('wall'))} (compute {_fmt_s(b.get('compute'))}), {b.get('rows') or 0:,} rows",
            "floor": f"bare DuckDB COPY of the same rows {_fmt_s(b.get('floor'))}",
            "ratio": _ratio(b.get("wall"), b.get("floor")),
            "target": "reported (the issue's ≤ 1.5× is for the PFS benchmark, phase 2)",
            "met": b.get("rows") is not None and "error" not in b,
        }
    )
    r = stages.get("rates_phase2", {})
    for name, what, floor in (
        ("professional", "Medicare professional benchmark, every code × locality", "the same query, bare `COPY`"),
        ("tiles", "fact_rate_enriched tiles (Hive-partitioned ZSTD parquet)", "bare `COPY … PARTITION_BY`"),
    ):
        rows.append(
            {
                "stage": f"{what}, {r.get(f'{name}_rows') or 0:,} rows",
                "figure": f"{_fmt_s(r.get(name))} (compute {_fmt_s(r.get(f'{name}_compute'))})",
                "floor": f"{floor} {_fmt_s(r.get(f'{name}_floor'))}",
                "ratio": _ratio(r.get(name), r.get(f"{name}_floor")),
                "target": "≤ 1.5×",
                "met": r.get(name) is not None and r.get(name) <= 1.5 * (r.get(f"{name}_floor") or 0),
            }
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

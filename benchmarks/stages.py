"""The measurements, run in child processes of :mod:`benchmarks.run` (one process per group of stages).

``python -m benchmarks.stages <plan.json>``: the plan names the stages to run, the work folders, the
sample-world server and where to write the result JSON. Each stage materializes the real assets through
the CLI's :class:`~medicaid_assets.cli.Runner` (same Definitions, in-process, a persistent instance) and
measures its floor in the same process, right before or after. Wall figures of an asset are the step's
own duration from Dagster's event log (``STEP_SUCCESS``); the run's wall (which adds run setup) is kept
beside it. Peak RSS per stage: the process's high-water mark, reset (``/proc/self/clear_refs``) at the
start of every stage.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RSS_RE = re.compile(r"VmHWM:\s+(\d+) kB")
LEVEL2 = "^[A-V][0-9]{4}$"


def reset_peak_rss() -> None:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0); a no-op elsewhere."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def cpu_seconds() -> float:
    """CPU time of this process (all its threads), user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parent_cpu_seconds() -> float:
    """CPU time of the parent process (the benchmark driver, which serves the sample world), from /proc."""
    try:
        fields = Path(f"/proc/{os.getppid()}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_bytes() -> int | None:
    try:
        m = RSS_RE.search(Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(m.group(1)) * 1024 if m else None


@dataclass
class Measure:
    """What one stage reports: figures, and the wall of each thing timed."""

    figures: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Wall of the block as ``name``, its CPU time (this process) as ``<name>_cpu``."""
        started, cpu = time.perf_counter(), cpu_seconds()
        yield
        self.figures[name] = round(time.perf_counter() - started, 3)
        self.figures[f"{name}_cpu"] = round(cpu_seconds() - cpu, 3)


# -- the child's context -----------------------------------------------------------------------------


class Context:
    """Settings, Definitions, instance and runner of the plan (built lazily: floors need no Dagster)."""

    def __init__(self, plan: dict) -> None:
        self.plan = plan
        self.data_dir = Path(plan["data_dir"])
        self.home = Path(plan["dagster_home"])
        self.scratch = Path(plan["scratch_dir"])
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.base_url: str = plan["base_url"]
        self._runner = None
        self.compute: dict[str, float] = {}  # compute part of each step of the last run() (see there)

    @property
    def settings(self):
        from medicaid_assets.sample_world.urls import settings_for_world
        from medicaid_assets.settings import Settings

        base = Settings.from_env({"MEDICAID_DATA_DIR": str(self.data_dir)})
        return settings_for_world(base, self.base_url)

    @property
    def layout(self):
        from medicaid_assets.layout import DataLayout

        return DataLayout(self.data_dir)

    @property
    def runner(self):
        if self._runner is None:
            import dagster as dg

            from medicaid_assets.cli.runner import Runner, instance_for
            from medicaid_assets.definitions import build_definitions

            self.home.mkdir(parents=True, exist_ok=True)  # the project's instance settings (pools, telemetry off)
            shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", self.home / "dagster.yaml")
            warnings.filterwarnings("ignore", category=dg.BetaWarning)
            warnings.filterwarnings("ignore", category=dg.PreviewWarning)
            api = {"requests_per_second": 0, "concurrency": self.plan["concurrency"], "round_delay_seconds": 1.0}
            defs = build_definitions(self.settings, api=api)
            persistent = self.plan.get("instance", "persistent") == "persistent"
            instance = instance_for(self.home) if persistent else dg.DagsterInstance.ephemeral()
            self._runner = Runner(defs, instance, quiet=True, split_ranges=True)  # as the CLI's commands
        return self._runner

    def control(self):
        from medicaid_assets.sample_world.server import WorldControl

        return WorldControl(self.base_url, timeout=120)

    def api_requests(self) -> int:
        """NPI and HCPCS API requests the server logged since the last :meth:`clear_requests`."""
        return sum(1 for e in self.control().requests() if e.get("api") in ("npi", "hcpcs"))

    def run(self, job: str | None = None, keys: list | None = None, **kwargs) -> tuple[float, dict[str, float]]:
        """Run ``job`` (default: the main job) over asset ``keys``; return (run wall, step walls by step key).

        The compute part of each step (from its start to its first output event: what follows is Dagster
        writing the step's events) goes to :attr:`compute`.
        """
        import dagster as dg

        from medicaid_assets.defs.medicaid_spending.jobs import main_job

        selection = dg.AssetSelection.assets(*[dg.AssetKey(k) for k in keys]) if keys else None
        before = len(self.runner.results)
        started = time.perf_counter()
        ok = self.runner.run(job or main_job.name, selection, **kwargs)
        wall = time.perf_counter() - started
        steps, failures, starts, firsts = {}, [], {}, {}
        for result in self.runner.results[before:]:  # one call may be several runs
            for entry in self.runner.instance.all_logs(result.run_id):
                event = entry.dagster_event
                if event is None:
                    continue
                if event.event_type_value == "STEP_START":
                    starts[event.step_key] = entry.timestamp
                elif event.event_type_value in ("STEP_OUTPUT", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"):
                    firsts.setdefault(event.step_key, entry.timestamp)
                elif event.event_type_value == "STEP_SUCCESS":
                    steps[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 3)
                elif event.event_type_value == "STEP_FAILURE":
                    failures.append(f"{event.step_key}: {event.event_specific_data.error.to_string()}")
        self.compute = {k: round(firsts[k] - starts[k], 3) for k in steps if k in starts and k in firsts}
        if not ok:
            raise RuntimeError(f"run of {keys or job} failed: " + "\n".join(failures or ["(no step failure)"]))
        return round(wall, 3), steps


# -- stages --------------------------------------------------------------------------------------------

SOURCES = [
    ["raw", "medicaid_spending_file"],
    ["raw", "nppes_monthly_bundle"],
    ["raw", "cpt_archives"],
    ["raw", "cpt_hcpcs_fallback"],
]


def stage_prepare(ctx: Context, m: Measure) -> None:
    """Downloads and extractions from the sample-world server (not a target; needed by what follows)."""
    wall, steps = ctx.run(keys=SOURCES)
    m.figures.update(run_wall=wall, steps=steps)


def _spending_path(ctx: Context) -> Path:
    from medicaid_assets.core.download import file_name_from_url

    return ctx.layout.raw_medicaid / file_name_from_url(ctx.settings.spending_url)


def stage_spending(ctx: Context, m: Measure) -> None:
    """The monthly-partitioned table (every month, one run) against a bare CTAS of the same parquet."""
    import duckdb
    import pyarrow.parquet as pq

    from medicaid_assets.cli.runner import full_range_tags

    path = _spending_path(ctx)
    rows = pq.ParquetFile(path).metadata.num_rows
    floor_db = ctx.scratch / "floor_spending.duckdb"
    floor_db.unlink(missing_ok=True)
    with duckdb.connect(str(floor_db)) as conn, m.timed("floor"):
        conn.execute(f"CREATE TABLE spending AS SELECT * FROM read_parquet('{path}')")
    floor_db.unlink(missing_ok=True)
    wall, steps = ctx.run(keys=[["warehouse", "spending"]], tags=full_range_tags())
    m.figures.update(
        rows=rows,
        bytes=path.stat().st_size,
        wall=steps["warehouse__spending"],
        compute=ctx.compute.get("warehouse__spending"),
        run_wall=wall,
        rows_per_second=round(rows / steps["warehouse__spending"]),
        floor_rows_per_second=round(rows / m.figures["floor"]),
    )


DISTINCT_REPEATS = 3  # a stage of a few seconds: the best of three, asset and floor in turn, steadies the ratio


def stage_distinct(ctx: Context, m: Measure) -> None:
    """Distinct NPIs and codes to parquet (the two assets) against bare SELECT DISTINCTs over the table.

    Best of :data:`DISTINCT_REPEATS`, alternating; the stored values are removed before each repeat (else the
    assets find them current and rewrite nothing).
    """
    import duckdb

    best: dict[str, Any] = {}
    for _ in range(DISTINCT_REPEATS):
        # The values as the (default, parquet) IO manager stores them: <data>/assets/<key prefix>/<name>.parquet.
        for name in ("dataset_npis", "dataset_codes"):
            (ctx.layout.assets / "resolution" / f"{name}.parquet").unlink(missing_ok=True)
        wall, steps = ctx.run(keys=[["resolution", "dataset_npis"], ["resolution", "dataset_codes"]])
        seconds = round(steps["resolution__dataset_npis"] + steps["resolution__dataset_codes"], 3)
        if "wall" not in best or seconds < best["wall"]:
            compute = round(sum(ctx.compute.get(k, 0.0) for k in steps), 3)
            best.update(wall=seconds, compute=compute, run_wall=wall, steps=steps)
        floor = Measure()
        with duckdb.connect(str(ctx.settings.warehouse_path), read_only=True) as conn, floor.timed("floor"):
            npis = conn.execute(
                "SELECT DISTINCT n FROM (SELECT BILLING_PROVIDER_NPI_NUM AS n FROM spending "
                "UNION ALL SELECT SERVICING_PROVIDER_NPI_NUM FROM spending)"
            ).to_arrow_table()
            codes = conn.execute("SELECT DISTINCT HCPCS_CODE FROM spending").to_arrow_table()
        if "floor" not in best or floor.figures["floor"] < best["floor"]:
            best.update(floor.figures)
    m.figures.update(best, repeats=DISTINCT_REPEATS, distinct_npis=npis.num_rows, distinct_codes=codes.num_rows)


def _nppes_files(ctx: Context) -> dict[str, Path]:
    from medicaid_assets.defs.reference.nppes.assets import CURRENT_MONTHLY
    from medicaid_assets.defs.reference.nppes.bundles import find_bundle_files

    current = json.loads((ctx.layout.nppes_monthly / CURRENT_MONTHLY).read_text())
    bundle = find_bundle_files(ctx.layout.nppes_monthly / current["bundle_key"])
    return {"npidata": bundle.primary, **bundle.sides}


def stage_nppes(ctx: Context, m: Measure) -> None:
    """The provider tables built from the monthly bundle (a fresh build: no table yet)."""
    files = _nppes_files(ctx)
    size = sum(p.stat().st_size for p in files.values())
    wall, steps = ctx.run(keys=[["warehouse", "nppes_providers"]])
    seconds = steps["warehouse__nppes_providers"]
    m.figures.update(
        wall=seconds,
        compute=ctx.compute.get("warehouse__nppes_providers"),
        run_wall=wall,
        csv_bytes=size,
        csv_bytes_by_file={k: p.stat().st_size for k, p in files.items()},
        mb_per_second=round(size / 1e6 / seconds, 1),
    )


def stage_nppes_floor(ctx: Context, m: Measure) -> None:
    """polars: scan_csv of the columns the provider tables read, sunk to parquet (npidata and side files)."""
    import polars as pl

    from medicaid_assets.defs.reference.nppes.bundles import (
        IDENTIFIER_FIELDS,
        IDENTIFIER_SLOTS,
        PROVIDER_FIELDS,
        SIDE_TABLES,
        TAXONOMY_FIELDS,
        TAXONOMY_SLOTS,
        V2_HEADER,
    )

    used = {"NPI", "Entity Type Code", *(h for _, h, _ in PROVIDER_FIELDS)}
    used |= {h.format(i=i) for _, h, _ in TAXONOMY_FIELDS for i in range(1, TAXONOMY_SLOTS + 1)}
    used |= {h.format(i=i) for _, h, _ in IDENTIFIER_FIELDS for i in range(1, IDENTIFIER_SLOTS + 1)}
    headers = {"npidata": [c for c in V2_HEADER if c in used], **{s.kind: list(s.header) for s in SIDE_TABLES}}
    files = _nppes_files(ctx)
    size = sum(p.stat().st_size for p in files.values())
    with m.timed("floor"):
        for kind, path in files.items():
            out = ctx.scratch / f"floor_{kind}.parquet"
            frame = pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy", quote_char='"')
            frame.select(headers[kind]).sink_parquet(out)
            out.unlink()
    m.figures.update(columns=len(headers["npidata"]), mb_per_second=round(size / 1e6 / m.figures["floor"], 1))


def stage_weekly(ctx: Context, m: Measure) -> None:
    """One weekly bundle applied (its download untimed) against a forced rebuild of the provider tables."""
    from medicaid_assets.defs.reference.nppes.assets import files_page_links
    from medicaid_assets.defs.reference.nppes.bundles import bundle_key, chronological
    from medicaid_assets.defs.reference.nppes.sensors import nppes_weekly_job

    links = files_page_links(ctx.runner.defs.resources["files"], ctx.settings.nppes_files_page_url)
    key = chronological([bundle_key(u) for u in links.weekly])[0]
    ctx.runner.instance.add_dynamic_partitions("nppes_weekly", [key])
    ctx.run(nppes_weekly_job.name, keys=[["raw", "nppes_weekly_bundle"]], partition_key=key)
    wall, steps = ctx.run(nppes_weekly_job.name, keys=[["warehouse", "nppes_weekly_update"]], partition_key=key)
    compute = ctx.compute.get("warehouse__nppes_weekly_update")
    force = {"ops": {"warehouse__nppes_providers": {"config": {"force": True}}}}
    floor_wall, floor_steps = ctx.run(keys=[["warehouse", "nppes_providers"]], run_config=force)
    m.figures.update(
        weekly=key,
        wall=steps["warehouse__nppes_weekly_update"],
        compute=compute,
        floor_compute=ctx.compute.get("warehouse__nppes_providers"),
        run_wall=wall,
        floor=floor_steps["warehouse__nppes_providers"],
        floor_run_wall=floor_wall,
    )


def _needed_requests(ctx: Context) -> dict[str, int]:
    """What the contract needs: one request per valid NPI the bulk files lack, one per 100 Level II codes
    the fallback lacks. Computed from the warehouse and the fallback, not from the assets' own figures."""
    import duckdb

    from medicaid_assets.core.npi import is_valid_npi

    with duckdb.connect(str(ctx.settings.warehouse_path), read_only=True) as conn:
        missing = conn.execute(
            """
            SELECT DISTINCT n FROM (
                SELECT trim(BILLING_PROVIDER_NPI_NUM) AS n FROM spending
                UNION ALL SELECT trim(SERVICING_PROVIDER_NPI_NUM) FROM spending
            ) WHERE n IS NOT NULL AND n <> '' AND n NOT IN (SELECT npi FROM nppes_providers)
            """
        ).fetchall()
        fallback = str(ctx.layout.cpt_fallback).replace("'", "''")
        codes = conn.execute(
            f"""
            SELECT count(*) FROM (SELECT DISTINCT upper(trim(HCPCS_CODE)) AS c FROM spending)
            WHERE regexp_full_match(c, '{LEVEL2[1:-1]}')
              AND c NOT IN (SELECT upper(trim(hcpcs_code)) FROM read_csv('{fallback}', all_varchar = true))
            """
        ).fetchone()[0]
    npis = sum(1 for (n,) in missing if is_valid_npi(n))
    return {"npi_lookups": npis, "code_lookups": codes, "requests": npis + math.ceil(codes / 100)}


def stage_resolution(ctx: Context, m: Measure) -> None:
    """Both caches from cold (bulk preload, fallback, then the emulated APIs, unthrottled)."""
    ctx.run(keys=[["resolution", "npi_bulk_rows"]])  # its input, untimed
    needed = _needed_requests(ctx)
    control = ctx.control()
    control.clear_requests()
    client_cpu, emulator_cpu = cpu_seconds(), parent_cpu_seconds()
    wall, steps = ctx.run(keys=[["resolution", "npi_cache"], ["resolution", "hcpcs_cache"]])
    client_cpu, emulator_cpu = cpu_seconds() - client_cpu, parent_cpu_seconds() - emulator_cpu
    requests = ctx.api_requests()
    report = {}
    for event in ctx.runner.results[-1].get_asset_materialization_events():
        meta = event.materialization.metadata
        name = event.materialization.asset_key.path[-1]
        lookup = meta.get("lookup_report")
        report[name] = {
            "asked_api": int(meta["asked_api"].value) if "asked_api" in meta else 0,
            "requests": int(meta["requests"].value) if "requests" in meta else 0,
            "api_seconds": float(lookup.value["duration_seconds"]) if lookup is not None else 0.0,
        }
    lookups = sum(r["asked_api"] for r in report.values())
    api_seconds = max((r["api_seconds"] for r in report.values()), default=0.0)
    m.figures.update(
        wall=steps["identifier_caches"],
        compute=ctx.compute.get("identifier_caches"),
        run_wall=wall,
        lookups=lookups,
        api_seconds=round(api_seconds, 3),
        lookups_per_second=round(lookups / api_seconds, 1) if api_seconds else None,
        requests=requests,
        needed_requests=needed["requests"],
        needed=needed,
        by_cache=report,
        concurrency=ctx.plan["concurrency"],
        # CPU of the step (this process: bulk preload, fetch engine, caches) and of the emulators (the parent
        # process, otherwise idle): what the rate costs whatever else runs on the machine.
        client_cpu_seconds=round(client_cpu, 3),
        emulator_cpu_seconds=round(emulator_cpu, 3),
    )


RESOLVED_OUTPUTS = {
    "outputs__npi_provider_mapping": "npi_mapping",
    "outputs__hcpcs_code_mapping": "hcpcs_mapping",
    "outputs__npi_dataset": "npi_dataset",
    "outputs__hcpcs_dataset": "hcpcs_dataset",
}


def stage_outputs(ctx: Context, m: Measure) -> None:
    """Mappings and npi/hcpcs datasets (the assets) against pyarrow writing the same rows."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    keys = [["outputs", k.removeprefix("outputs__")] for k in RESOLVED_OUTPUTS]
    keys += [["outputs", "unresolved_identifiers"], ["outputs", "triage"]]
    wall, steps = ctx.run(keys=keys)
    tables = {}
    for step, attr in RESOLVED_OUTPUTS.items():
        path = getattr(ctx.layout, attr)
        if path.suffix == ".parquet":
            tables[step] = (path, pq.read_table(path))
        else:
            names = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 26)).column_names
            types = dict.fromkeys(names, "string")
            convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False)
            tables[step] = (path, pacsv.read_csv(path, convert_options=convert))
    floors = {}
    for step, (path, table) in tables.items():
        out = ctx.scratch / f"floor{path.suffix}"
        started = time.perf_counter()
        if path.suffix == ".parquet":
            pq.write_table(table, out, compression="snappy")
        else:
            pacsv.write_csv(table, out)
        floors[step] = round(time.perf_counter() - started, 3)
        out.unlink()
    m.figures.update(
        wall=round(sum(steps[s] for s in RESOLVED_OUTPUTS), 3),
        compute=round(sum(ctx.compute.get(s, 0.0) for s in RESOLVED_OUTPUTS), 3),
        floor=round(sum(floors.values()), 3),
        run_wall=wall,
        steps=steps,
        floors=floors,
        rows={s: t.num_rows for s, (_, t) in tables.items()},
        bytes={s: p.stat().st_size for s, (p, _) in tables.items()},
    )


def stage_resdac_fixed_width(ctx: Context, m: Measure) -> None:
    """ResDAC MBSF `.dat` (185 fields, 526 bytes a record) into DuckDB by the family's loader (polars line slicing,
    staged parquet, one CTAS with the uniform columns) against a bare DuckDB ``substr`` CTAS over the same lines.

    The loader is the function the raw asset calls, measured without a Dagster run around it.
    """
    import duckdb

    from medicaid_assets.core.fts import read_fts
    from medicaid_assets.defs.resdac_medicare.raw import ensure_loads_table, find_deliveries, load_delivery
    from medicaid_assets.sample_world.resdac import write_large_mbsf
    from medicaid_assets.sample_world.spec import WorldSpec

    target = int(ctx.plan.get("resdac_dat_bytes", 200_000_000))
    folder = ctx.scratch / "resdac"
    shutil.rmtree(folder, ignore_errors=True)
    with m.timed("generate"):
        fts, rows = write_large_mbsf(WorldSpec(), folder, target)
    shutil.rmtree(folder / "small")
    delivery = next(d for d in find_deliveries(folder) if d.kind == "fixed")
    layout = read_fts(fts)
    dat = delivery.files[1]
    database = ctx.scratch / "resdac.duckdb"
    database.unlink(missing_ok=True)
    reset_peak_rss()
    with duckdb.connect(str(database)) as conn:
        conn.execute(f"SET temp_directory = '{ctx.scratch / 'duckdb_tmp'}'")
        ensure_loads_table(conn, "resdac_medicare")
        with m.timed("wall"):
            load_delivery(conn, "resdac_medicare", delivery, ctx.scratch / "staging")
        m.figures["loader_peak_rss_bytes"] = peak_rss_bytes()
        conn.execute("DROP TABLE resdac_medicare." + delivery.table)
        reset_peak_rss()
        cols = ", ".join(f"substr(line, {f.start}, {f.length}) AS c{i}" for i, f in enumerate(layout.fields))
        with m.timed("floor"):
            conn.execute(
                f"CREATE TABLE floor AS SELECT {cols} FROM read_csv('{dat}', columns={{'line': 'VARCHAR'}}, "
                "header=false, delim='\x1f', quote='', escape='', auto_detect=false)"
            )
        m.figures["floor_peak_rss_bytes"] = peak_rss_bytes()
    database.unlink(missing_ok=True)
    size = dat.stat().st_size
    shutil.rmtree(folder, ignore_errors=True)
    m.figures.update(
        rows=rows,
        bytes=size,
        mb_per_second=round(size / 1e6 / m.figures["wall"], 1),
        floor_mb_per_second=round(size / 1e6 / m.figures["floor"], 1),
        throughput_vs_floor=round(m.figures["floor"] / m.figures["wall"], 2),
    )


def stage_resdac_sketches(ctx: Context, m: Measure) -> None:
    """Distinct beneficiaries per year from the QC table's HLL sketches (union) against the exact recount over
    the enrollments they summarize; the HLL error is reported beside the exact counts."""
    import duckdb

    from medicaid_assets.defs.resdac_medicare import qc

    rows = int(ctx.plan.get("resdac_enrollment_rows", 5_000_000))
    with duckdb.connect() as conn:
        conn.execute("CREATE SCHEMA s")
        conn.execute(
            "CREATE TABLE s.enrollments AS SELECT 'B' || lpad(CAST(hash(i // 3) % 100000000 AS VARCHAR), 9, '0') "
            "AS bene_id, 2014 + i % 3 AS year, 'S' || (i // 3) % 50 AS state, 10000 + (i // 3) % 400 AS zip, "
            "'001' AS fips3, 'S' || (i // 3) % 50 AS state_iso, false AS fips3_is_approximated, "
            f"true AS fips3_validated FROM range({rows}) t(i)"
        )
        conn.execute(
            "CREATE TABLE s.beneficiaries AS SELECT DISTINCT bene_id, DATE '1940-01-01' AS dob, NULL::DATE AS "
            "dob_latest, NULL::DATE AS dod, NULL::DATE AS dod_earliest, '1' AS sex, '1' AS race FROM s.enrollments"
        )
        with m.timed("qc_build"):
            groups = qc.build_qc_enrollments(conn, "s")
        with m.timed("wall"):
            rolled = qc.rollup(conn, "s", "qc_enrollments", ["year"])
        with m.timed("floor"):
            exact = qc.exact_distinct(conn, "s", "enrollments", ["year"])
    errors = {str(k[0]): round((r["estimate"] - exact[k]) / exact[k], 5) for k, r in rolled.items()}
    m.figures.update(
        enrollment_rows=rows,
        qc_rows=groups,
        exact=dict((str(k[0]), v) for k, v in exact.items()),
        estimate={str(k[0]): round(r["estimate"]) for k, r in rolled.items()},
        relative_error=errors,
        speedup=round(m.figures["floor"] / m.figures["wall"], 2),
    )


def _main_job(ctx: Context, m: Measure) -> None:
    from medicaid_assets.cli.runner import full_range_tags

    ctx.control().clear_requests()
    wall, steps = ctx.run(tags=full_range_tags())
    m.figures.update(
        wall=wall,
        steps=steps,
        compute=ctx.compute,
        requests=ctx.api_requests(),
        step_sum=round(sum(steps.values()), 3),
        compute_sum=round(sum(ctx.compute.values()), 3),
    )


REAL_PPRRVU_ROWS = 19_000  # code x modifier rows of a real PPRRVU file (RVU25D: about 19k)
REAL_PAID_ROWS = 11_000  # of which paid (status A, R, T): about 11k, each priced in every locality
PFS_SAMPLES = ("pfs_pprrvu2025_oct_selected_codes.csv", "pfs_pprrvu2025_oct_head70.csv", "pprrvu_sample.csv")


def _repeated(rows: Any, count: int) -> Any:
    import pyarrow as pa

    return pa.concat_tables([rows] * math.ceil(count / rows.num_rows)).slice(0, count)


def _pfs_release_tables() -> tuple[Any, Any]:
    """pfs_amounts and pfs_state_amounts of a real-size release (partition ``bench``): the real PPRRVU sample rows,
    paid and unpaid repeated under fresh codes up to a real file's counts, in the 109 real localities."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from medicaid_assets.defs.reference.fee_schedules.keys import PFS_NATIONAL, PFS_PAID_STATUSES
    from medicaid_assets.defs.reference.fee_schedules.pfs_parse import parse_gpci, parse_pprrvu_csv
    from medicaid_assets.defs.reference.fee_schedules.pfs_pricing import price_localities, state_amounts

    formats = PROJECT_ROOT / "medicaid_assets" / "formats"
    sample = pa.concat_tables([parse_pprrvu_csv(formats / name) for name in PFS_SAMPLES])
    paid = pc.is_in(sample.column("status"), pa.array(PFS_PAID_STATUSES))
    rvus = pa.concat_tables(
        [
            _repeated(sample.filter(paid), REAL_PAID_ROWS),
            _repeated(sample.filter(pc.invert(paid)), REAL_PPRRVU_ROWS - REAL_PAID_ROWS),
        ]
    )
    codes = pa.array([f"{i:05d}" for i in range(rvus.num_rows)])
    rvus = rvus.set_column(rvus.schema.get_field_index("hcpcs_code"), "hcpcs_code", codes).combine_chunks()
    amounts = price_localities("bench", rvus, parse_gpci(formats / "pfs_gpci2025.csv"))
    return amounts, state_amounts("bench", rvus, amounts, PFS_NATIONAL)


def stage_pfs_amounts(ctx: Context, m: Measure) -> None:
    """PFS amounts for every code x modifier x locality at real size (the target is absolute: 2 s).

    The real PPRRVU sample rows, paid and unpaid repeated under fresh codes up to a real file's counts, priced in
    the 109 real localities (the real GPCI file), then the state averages and national rows: the functions the
    assets call.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from medicaid_assets.defs.reference.fee_schedules.keys import PFS_NATIONAL, PFS_PAID_STATUSES
    from medicaid_assets.defs.reference.fee_schedules.pfs_parse import parse_gpci, parse_pprrvu_csv
    from medicaid_assets.defs.reference.fee_schedules.pfs_pricing import price_localities, state_amounts

    formats = PROJECT_ROOT / "medicaid_assets" / "formats"
    sample = pa.concat_tables([parse_pprrvu_csv(formats / name) for name in PFS_SAMPLES])
    paid = pc.is_in(sample.column("status"), pa.array(PFS_PAID_STATUSES))
    rvus = pa.concat_tables(
        [
            _repeated(sample.filter(paid), REAL_PAID_ROWS),
            _repeated(sample.filter(pc.invert(paid)), REAL_PPRRVU_ROWS - REAL_PAID_ROWS),
        ]
    )
    codes = pa.array([f"{i:05d}" for i in range(rvus.num_rows)])  # one code per row keeps keys unique
    rvus = rvus.set_column(rvus.schema.get_field_index("hcpcs_code"), "hcpcs_code", codes).combine_chunks()
    localities = parse_gpci(formats / "pfs_gpci2025.csv")
    with m.timed("wall"):
        amounts = price_localities("bench", rvus, localities)
        states = state_amounts("bench", rvus, amounts, PFS_NATIONAL)
    m.figures.update(
        pprrvu_rows=rvus.num_rows,
        paid_rows=REAL_PAID_ROWS,
        localities=localities.num_rows,
        amount_rows=amounts.num_rows,
        state_rows=states.num_rows,
    )


def stage_marts(ctx: Context, m: Measure) -> None:
    """spending_enriched over every month (one run) against a bare DuckDB join of the same inputs into a table of the
    same warehouse; then one month again (the incremental case) against the full build."""
    import duckdb

    from medicaid_assets.cli.runner import full_range_tags
    from medicaid_assets.defs.medicaid_spending.keys import SPENDING_ENRICHED_TABLE, monthly_partitions
    from medicaid_assets.defs.medicaid_spending.marts import marts_job

    ctx.run(keys=[["code_sets", "nucc_taxonomy"]])  # an input, untimed
    step = "marts__spending_enriched"
    wall, steps = ctx.run(marts_job.name, keys=[["marts", "spending_enriched"]], tags=full_range_tags())
    full = steps[step]
    with duckdb.connect(str(ctx.settings.warehouse_path)) as conn:
        rows = conn.execute(f"SELECT count(*) FROM {SPENDING_ENRICHED_TABLE}").fetchone()[0]
        with m.timed("floor"):
            conn.execute(
                "CREATE OR REPLACE TABLE floor_enriched AS SELECT s.*, b.provider_name, b.entity_type, b.status, "
                "b.location_state, b.location_postal_code, b.taxonomies, v.provider_name AS s_name, "
                "v.entity_type AS s_type, v.status AS s_status, v.location_state AS s_state, "
                "v.location_postal_code AS s_zip, v.taxonomies AS s_taxonomies "
                "FROM spending s LEFT JOIN nppes_providers b ON b.npi = trim(s.BILLING_PROVIDER_NPI_NUM) "
                "LEFT JOIN nppes_providers v ON v.npi = trim(s.SERVICING_PROVIDER_NPI_NUM)"
            )
        conn.execute("DROP TABLE floor_enriched")
    _, month_steps = ctx.run(
        marts_job.name, keys=[["marts", "spending_enriched"]], partition_key=monthly_partitions.get_last_partition_key()
    )
    m.figures.update(
        wall=full,
        compute=ctx.compute.get(step),
        run_wall=wall,
        rows=rows,
        month_wall=month_steps[step],
        rows_per_second=round(rows / full),
    )


stage_main_cold = _main_job
stage_main_warm = _main_job


def stage_synthetic_medicare(ctx: Context, m: Measure) -> None:
    """Synthetic Medicare: the landing (every file type, one run) against a bare DuckDB ``read_csv`` → parquet of
    the same files; the dbt build (cold) beside it; the family's job again with nothing new against its cold run."""
    import duckdb

    from medicaid_assets.core.values import sql_string
    from medicaid_assets.defs.synthetic_medicare.jobs import ALL_FILE_TYPES_TAGS, synthetic_medicare_job
    from medicaid_assets.defs.synthetic_medicare.keys import DOWNLOADS
    from medicaid_assets.defs.synthetic_medicare.raw import source_files

    ctx.runner.split_ranges = False  # the family's job is one run (its range is file types, not spending months)
    ctx.run(synthetic_medicare_job.name, keys=[DOWNLOADS.path])  # downloads and extraction: not timed
    sources = source_files(ctx.layout)
    size = sum(s.path.stat().st_size for s in sources)
    floor_dir = ctx.scratch / "synthetic_medicare_floor"
    shutil.rmtree(floor_dir, ignore_errors=True)
    floor_dir.mkdir(parents=True)
    with duckdb.connect() as conn, m.timed("floor"):
        for i, source in enumerate(sources):
            target = sql_string(str(floor_dir / f"{i}.parquet"))
            conn.execute(
                f"COPY (SELECT * FROM read_csv({sql_string(str(source.path))}, delim='|', header=true)) "
                f"TO {target} (FORMAT parquet, COMPRESSION zstd)"
            )
    cold, steps = ctx.run(synthetic_medicare_job.name, tags=ALL_FILE_TYPES_TAGS)
    compute = dict(ctx.compute)
    warm, _ = ctx.run(synthetic_medicare_job.name, tags=ALL_FILE_TYPES_TAGS)
    # The landing's own work (step start to its first event); the step's wall adds Dagster recording 9 partitions.
    landing = compute.get("raw__synthetic_medicare_landed") or steps["raw__synthetic_medicare_landed"]
    m.figures.update(
        bytes=size,
        files=len(sources),
        wall=landing,
        step_wall=steps["raw__synthetic_medicare_landed"],
        mb_per_second=round(size / 1e6 / landing, 2),
        floor_mb_per_second=round(size / 1e6 / m.figures["floor"], 2),
        dbt_build=steps["synthetic_medicare_dbt"],
        job_cold=cold,
        job_warm=warm,
        steps=steps,
    )


def stage_price_transparency(ctx: Context, m: Measure) -> None:
    """In-network JSON → parquet rows with ids (whitelist / all codes, .json / .json.gz) beside read, gunzip and
    split floors on the same input (``benchmarks/price_transparency.py``); input size = scale × 10 GiB, ≥ 16 MiB."""
    from benchmarks.price_transparency import measure

    target = max(16 << 20, int(float(ctx.plan.get("scale", 0.1)) * 10 * 1024**3))
    m.figures.update(measure(ctx.scratch / "price_transparency", target))


def stage_rates_benchmarks(ctx: Context, m: Measure) -> None:
    """Medicare OPPS + ASC benchmarks (steps of ``rates_warehouse_job``) from one stored release each, beside the
    same rows built by bare DuckDB SQL over the stored Addendum B / AA parquet files (newest release, paid codes,
    one row per state and code) and written to parquet."""
    import duckdb

    from medicaid_assets.defs.rates_warehouse.benchmarks import NATIONAL, STATES
    from medicaid_assets.defs.reference.fee_schedules import keys as fee_schedules

    instance = ctx.runner.instance
    instance.add_dynamic_partitions(fee_schedules.opps_releases.name, ["2025Q1"])
    instance.add_dynamic_partitions(fee_schedules.asc_releases.name, ["2026Q1"])
    ctx.run("opps_release_job", partition_key="2025Q1")
    ctx.run("asc_release_job", partition_key="2026Q1")
    keys = [["rates_warehouse", "bench_medicare_opps"], ["rates_warehouse", "bench_medicare_asc"]]
    wall, steps = ctx.run("rates_warehouse_job", keys=keys)
    assets = ctx.data_dir / "assets"
    states = ", ".join(f"('{s}')" for s in (NATIONAL, *STATES))
    floor_sql = {
        "opps": f"""SELECT s.state, b.hcpcs AS code, b.status_indicator, b.apc, b.relative_weight,
                   b.payment_rate AS medicare_opps_national, b.payment_rate AS medicare_opps_stateavg, b.release
            FROM read_parquet('{assets}/fee_schedules/opps_hcpcs_rates/*.parquet') b, (VALUES {states}) s(state)
            WHERE b.release = (SELECT max(release) FROM read_parquet('{assets}/fee_schedules/opps_hcpcs_rates/*.parquet'))
              AND b.payment_rate > 0""",
        "asc": f"""SELECT s.state, b.hcpcs AS code, b.payment_indicator, b.payment_weight,
                   b.payment_rate AS medicare_asc_national, b.payment_rate AS medicare_asc_stateavg, b.release
            FROM read_parquet('{assets}/fee_schedules/asc_rates/*.parquet') b, (VALUES {states}) s(state)
            WHERE b.release = (SELECT max(release) FROM read_parquet('{assets}/fee_schedules/asc_rates/*.parquet'))
              AND b.payment_rate > 0""",
    }
    rows = 0
    with m.timed("floor"):
        conn = duckdb.connect()
        for name, sql in floor_sql.items():
            out = ctx.scratch / f"floor_bench_{name}.parquet"
            conn.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
            rows += conn.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0]
            out.unlink()
        conn.close()
    m.figures.update(
        wall=round(sum(steps.values()), 3),
        compute=round(sum(ctx.compute.values()), 3),
        run_wall=wall,
        rows=rows,
    )


def stage_rates_phase2(ctx: Context, m: Measure) -> None:
    """bench_medicare_professional over every code × locality and fact_rate_enriched tiles, each beside the same
    query run bare by DuckDB (``benchmarks/rates_warehouse.py``); facts = scale × 10,000,000 rows, ≥ 200,000."""
    from benchmarks.rates_warehouse import measure

    measure(ctx, m, max(200_000, int(float(ctx.plan.get("scale", 0.1)) * 10_000_000)))


def _rates_memory(ctx: Context, m: Measure, factor: int) -> None:
    """Peak RSS of fact_rate_enriched tiles + the fact's Iceberg partition over ``factor`` × the facts of
    ``rates_phase2`` (``benchmarks/rates_warehouse.py``); 1× and 10× run in processes of their own."""
    from benchmarks.rates_warehouse import measure_memory

    measure_memory(ctx, m, factor * max(10_000, int(float(ctx.plan.get("scale", 0.1)) * 10_000_000)))


def stage_rates_memory_1x(ctx: Context, m: Measure) -> None:
    _rates_memory(ctx, m, 1)


def stage_rates_memory_10x(ctx: Context, m: Measure) -> None:
    _rates_memory(ctx, m, 10)


STAGES: dict[str, Callable[[Context, Measure], None]] = {
    "prepare": stage_prepare,
    "spending": stage_spending,
    "distinct": stage_distinct,
    "nppes": stage_nppes,
    "nppes_floor": stage_nppes_floor,
    "weekly": stage_weekly,
    "resolution": stage_resolution,
    "outputs": stage_outputs,
    "pfs_amounts": stage_pfs_amounts,
    "marts": stage_marts,
    "main_cold": stage_main_cold,
    "main_warm": stage_main_warm,
    "resdac_fixed_width": stage_resdac_fixed_width,
    "resdac_sketches": stage_resdac_sketches,
    "synthetic_medicare": stage_synthetic_medicare,
    "price_transparency": stage_price_transparency,
    "rates_benchmarks": stage_rates_benchmarks,
    "rates_phase2": stage_rates_phase2,
    "rates_memory_1x": stage_rates_memory_1x,
    "rates_memory_10x": stage_rates_memory_10x,
}


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[0]).read_text())
    ctx = Context(plan)
    results: dict[str, Any] = {}
    out = Path(plan["result_path"])
    status = 0
    for name in plan["stages"]:
        m = Measure()
        reset_peak_rss()
        started, cpu, load = time.perf_counter(), cpu_seconds(), os.getloadavg()[0]
        try:
            STAGES[name](ctx, m)
        except Exception:
            m.figures["error"] = traceback.format_exc()
            status = 1
        m.figures["stage_seconds"] = round(time.perf_counter() - started, 3)
        m.figures["stage_cpu_seconds"] = round(cpu_seconds() - cpu, 3)
        # The machine's 1-minute load average before and after: other work on it slows every figure.
        m.figures["load_average"] = [round(load, 2), round(os.getloadavg()[0], 2)]
        m.figures["peak_rss_bytes"] = peak_rss_bytes()
        results[name] = m.figures
        out.write_text(json.dumps(results, indent=2, default=str))
        print(f"{name}: {json.dumps(m.figures, default=str)[:400]}", flush=True)
        if status:
            break
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

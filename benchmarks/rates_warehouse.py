"""Rates warehouse phase 2 measurements (stage ``rates_phase2`` of :mod:`benchmarks.stages`).

``bench_medicare_professional`` over every code × locality of a real-size PFS release (the PPRRVU sample rows repeated
to a real file's 11,000 paid codes, priced in the 109 real localities — the functions pfs_amounts calls — stored
where the parquet IO manager keeps partition ``bench``), then ``fact_rate_enriched`` tiles for one synthetic
``fact_rate`` partition (``rows`` facts over those codes, three states, both billing classes, joined with dim_code,
the professional benchmark and no OPPS/ASC/WC; the process's first chart is drawn before, timed apart). Each is
the asset's Dagster step, beside the same SQL run bare by
DuckDB in the same process: ``COPY (query) TO`` one parquet file, and ``COPY (joined rows) TO … PARTITION_BY``;\nasset and floor in turn, the best of three of each.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

FILE_KEY = "bench__in-network-00000000"
REPEATS = 3  # asset and floor in turn, best of three: steadies the ratio on a shared machine
STATES = ("GA", "NC", "TX")


def _store_pfs(ctx: Any) -> tuple[Path, Path]:
    import pyarrow.parquet as pq

    from benchmarks.stages import _pfs_release_tables
    from medicaid_assets.defs.reference.fee_schedules import keys as fee_schedules

    amounts, states = _pfs_release_tables()
    assets = ctx.data_dir / "assets"
    paths = []
    for key, table in ((fee_schedules.PFS_AMOUNTS, amounts), (fee_schedules.PFS_STATE_AMOUNTS, states)):
        path = assets.joinpath(*key.path) / "bench.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="zstd")
        paths.append(path)
    ctx.runner.instance.add_dynamic_partitions(fee_schedules.pfs_release_partitions.name, ["bench"])
    return paths[0], paths[1]


def _store_facts(ctx: Any, professional: Path, rows: int) -> Path:
    """A fact_rate partition shaped like the asset's output, and dim_code for its codes."""
    import duckdb
    import polars as pl

    from medicaid_assets.defs.price_transparency.keys import file_partitions
    from medicaid_assets.defs.rates_warehouse.code_groups import code_type, procedure_group

    assets = ctx.data_dir / "assets" / "rates_warehouse"
    fact = assets / "fact_rate" / f"{FILE_KEY}.parquet"
    fact.parent.mkdir(parents=True, exist_ok=True)
    codes = duckdb.sql(f"SELECT DISTINCT code FROM '{professional}' ORDER BY code").fetchall()
    groups = [procedure_group(c) for (c,) in codes]
    pl.DataFrame(
        {
            "code_type": [code_type(c) for (c,) in codes],
            "code": [c for (c,) in codes],
            "procedure_set": [g[0] for g in groups],
            "procedure_class": [g[1] for g in groups],
        }
    ).write_parquet(assets / "dim_code.parquet")
    states = ", ".join(f"'{s}'" for s in STATES)
    duckdb.execute(f"""
        COPY (
            WITH codes AS (SELECT row_number() OVER () - 1 AS i, code FROM (SELECT DISTINCT code FROM '{professional}'))
            SELECT md5(r::VARCHAR) AS fact_uid, md5('rate' || r) AS rate_uuid, 'bench' AS payer_slug,
                   'payer' AS payer_uuid, [{states}][1 + r % {len(STATES)}] AS state,
                   CASE WHEN r % 5 = 0 THEN 'institutional' ELSE 'professional' END AS billing_class,
                   NULL::VARCHAR AS setting, 'CPT' AS code_type, c.code, '' AS modifiers,
                   round(50 + (r * 7919) % 5000 / 10.0, 2) AS negotiated_rate, 'negotiated' AS negotiated_type,
                   'ffs' AS negotiation_arrangement, md5('pg' || r % 2000) AS pg_uid, md5('') AS pos_set_id,
                   NULL::VARCHAR AS organization_uuid, 'ein' AS tin_type, (r % 2000)::VARCHAR AS tin_value,
                   3 AS npi_count, DATE '9999-12-31' AS expiration_date, DATE '2025-08-01' AS last_updated_date,
                   2025 AS year, 8 AS month, '{FILE_KEY}' AS file_key
            FROM range({rows}) t(r) JOIN codes c ON c.i = r % (SELECT count(*) FROM codes)
        ) TO '{fact}' (FORMAT parquet, COMPRESSION zstd)
    """)  # fmt: skip
    ctx.runner.instance.add_dynamic_partitions(file_partitions.name, [FILE_KEY])
    return fact


def measure(ctx: Any, m: Any, rows: int) -> None:
    import duckdb

    from medicaid_assets.dagster_kit.charts import amounts_by_group_png
    from medicaid_assets.defs.rates_warehouse import star
    from medicaid_assets.defs.rates_warehouse.tiles import PARTITION_COLUMNS, enriched_sql

    amounts, states = _store_pfs(ctx)
    professional = ctx.data_dir / "assets" / "rates_warehouse" / "bench_medicare_professional.parquet"
    prof_sql = star.bench_medicare_professional_sql(f"read_parquet('{amounts}')", f"read_parquet('{states}')")
    out = ctx.scratch / "floor_bench_professional.parquet"
    runs, floors = [], []
    for _ in range(REPEATS):
        runs.append(
            (*ctx.run("rates_star_job", keys=[["rates_warehouse", "bench_medicare_professional"]]), ctx.compute)
        )
        started = time.perf_counter()
        with duckdb.connect() as conn:
            conn.execute(f"COPY ({prof_sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
        floors.append(time.perf_counter() - started)
        out.unlink()
    wall, steps, compute = min(runs, key=lambda r: sum(r[1].values()))
    m.figures["professional_floor"] = round(min(floors), 3)
    m.figures.update(
        professional=round(sum(steps.values()), 3),
        professional_compute=round(sum(compute.values()), 3),
        professional_run_wall=wall,
        professional_rows=duckdb.sql(f"SELECT count(*) FROM '{professional}'").fetchone()[0],
    )

    fact = _store_facts(ctx, professional, rows)
    # The asset draws a chart: the process's first matplotlib import and font cache (seconds on a loaded machine,
    # once per process) is timed apart, so the ratio is the tiles' own cost.
    with m.timed("chart_warmup"):
        amounts_by_group_png({"warm-up": [1.0]}, "warm-up", money=False)
    assets = ctx.data_dir / "assets" / "rates_warehouse"
    sql = enriched_sql(
        f"read_parquet('{fact}')", f"read_parquet('{assets / 'dim_code.parquet'}')", f"read_parquet('{professional}')",
        None, None, [],
    )  # fmt: skip
    floor_dir = ctx.scratch / "floor_tiles"
    runs, floors = [], []
    for _ in range(REPEATS):
        job = ctx.run("fact_rate_job", keys=[["rates_warehouse", "fact_rate_enriched"]], partition_key=FILE_KEY)
        runs.append((*job, ctx.compute))
        shutil.rmtree(floor_dir, ignore_errors=True)
        started = time.perf_counter()
        with duckdb.connect() as conn:
            conn.execute(
                f"COPY ({sql}) TO '{floor_dir}' (FORMAT parquet, COMPRESSION zstd, "
                f"PARTITION_BY ({', '.join(PARTITION_COLUMNS)}))"
            )
        floors.append(time.perf_counter() - started)
    wall, steps, compute = min(runs, key=lambda r: sum(r[1].values()))
    m.figures["tiles_floor"] = round(min(floors), 3)
    tiles = sum(1 for _ in floor_dir.rglob("*.parquet"))
    m.figures.update(
        tiles=round(sum(steps.values()), 3),
        tiles_compute=round(sum(compute.values()), 3),
        tiles_run_wall=wall,
        tiles_rows=rows,
        tiles_files=tiles,
    )


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def measure_memory(ctx: Any, m: Any, rows: int) -> None:
    """Peak RSS of this process after the setup (the real-size professional benchmark, the synthetic facts) and after
    ``fact_rate_enriched`` + ``iceberg_fact_rate`` over ``rows`` facts."""
    _store_pfs(ctx)
    ctx.run("rates_star_job", keys=[["rates_warehouse", "bench_medicare_professional"]])
    professional = ctx.data_dir / "assets" / "rates_warehouse" / "bench_medicare_professional.parquet"
    _store_facts(ctx, professional, rows)
    m.figures["setup_peak_rss_bytes"] = _peak_rss()
    keys = [["rates_warehouse", "fact_rate_enriched"], ["rates_warehouse", "iceberg_fact_rate"]]
    with m.timed("tiles_and_iceberg"):
        _, steps = ctx.run("fact_rate_job", keys=keys, partition_key=FILE_KEY)
    m.figures.update(rows=rows, steps=steps, peak_rss_bytes=_peak_rss())

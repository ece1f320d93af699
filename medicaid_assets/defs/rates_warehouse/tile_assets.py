"""``fact_rate_enriched``: each fact partition joined with its benchmarks and written as tiles (see tiles.py)."""

import dagster as dg
import duckdb

from medicaid_assets.dagster_kit.charts import amounts_by_group_png, image_metadata
from medicaid_assets.dagster_kit.io_managers import ALLOW_MISSING, SqlFrame
from medicaid_assets.dagster_kit.metadata import OWNERS
from medicaid_assets.defs.price_transparency import keys as pt
from medicaid_assets.defs.rates_warehouse import star
from medicaid_assets.defs.rates_warehouse.keys import (
    BENCH_MEDICARE_ASC,
    BENCH_MEDICARE_OPPS,
    BENCH_MEDICARE_PROFESSIONAL,
    BENCH_WC,
    DIM_CODE,
    FACT_RATE,
    FACT_RATE_ENRICHED,
    GROUP,
)
from medicaid_assets.defs.rates_warehouse.resources import TilesResource
from medicaid_assets.defs.rates_warehouse.tiles import TILE_NAME, enriched_sql

OPTIONAL = {ALLOW_MISSING: True}  # a benchmark not built yet leaves its columns null


def _summary(conn: duckdb.DuckDBPyConnection, glob: str) -> dict:
    rows = conn.execute(
        f"SELECT billing_class, list(rate_to_medicare) FILTER (WHERE rate_to_medicare IS NOT NULL), "
        f"count(*), count(rate_to_medicare), count(rate_to_wc) "
        f"FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    png = amounts_by_group_png(
        {str(b): v for b, v, *_ in rows}, "negotiated rate ÷ Medicare by billing class", money=False
    )
    return {
        "with_medicare": sum(r[3] for r in rows),
        "with_wc_max": sum(r[4] for r in rows),
        "chart": image_metadata(png, "rate ÷ Medicare by billing class"),
    }


@dg.asset(
    key=FACT_RATE_ENRICHED,
    ins={
        "fact_rate": dg.AssetIn(FACT_RATE),
        "dim_code": dg.AssetIn(DIM_CODE, metadata=OPTIONAL),
        "professional": dg.AssetIn(BENCH_MEDICARE_PROFESSIONAL, metadata=OPTIONAL),
        "opps": dg.AssetIn(BENCH_MEDICARE_OPPS, metadata=OPTIONAL),
        "asc": dg.AssetIn(BENCH_MEDICARE_ASC, metadata=OPTIONAL),
        **{f"wc_{s.lower()}": dg.AssetIn(key, metadata=OPTIONAL) for s, key in BENCH_WC.items()},
    },
    partitions_def=pt.file_partitions,
    group_name=GROUP,
    kinds={"parquet", "duckdb"},
    owners=OWNERS,
    tags={"family": "rates_warehouse", "layer": "tiles"},
    pool="duckdb",
    description="The tiles: each fact row with its procedure set/class, the Medicare amount of its setting in its "
    "state (PFS state average for professional rates, OPPS for institutional, ASC beside), the state's workers'-comp "
    "maximum, rate ÷ Medicare and rate ÷ WC maximum; Hive-partitioned ZSTD parquet "
    "payer=/state=/billing_class=/procedure_set=/procedure_class=/year=/month= under MEDICAID_RATES_TILES_URL (local "
    "or s3://). Re-running a partition replaces exactly its tiles.",
)
def fact_rate_enriched(
    context: dg.AssetExecutionContext,
    tiles: TilesResource,
    fact_rate: SqlFrame,
    dim_code: SqlFrame | None,
    professional: SqlFrame | None,
    opps: SqlFrame | None,
    asc: SqlFrame | None,
    **wc: SqlFrame | None,
) -> dg.MaterializeResult:
    def src(frame: SqlFrame | None) -> str | None:
        return star.source(frame.sql) if frame is not None else None

    sql = enriched_sql(
        star.source(fact_rate.sql), src(dim_code), src(professional), src(opps), src(asc),
        [star.source(w.sql) for w in wc.values() if w is not None],
    )  # fmt: skip
    database = fact_rate.database or ":memory:"
    with duckdb.connect(database, read_only=database != ":memory:") as conn:
        written = tiles.replace_partition(
            conn, sql, TILE_NAME, context.partition_key, summarize=lambda glob: _summary(conn, glob)
        )
    chart = written.pop("chart", None)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": written["rows"], **written, **({"chart": chart} if chart else {})}
    )

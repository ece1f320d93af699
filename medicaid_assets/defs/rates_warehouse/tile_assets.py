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
    WC_BENCH_STATES,
)
from medicaid_assets.defs.rates_warehouse.resources import TilesResource
from medicaid_assets.defs.rates_warehouse.tiles import TILE_NAME, enriched_sql

OPTIONAL = {ALLOW_MISSING: True}  # a benchmark not built yet leaves its columns null


ABSURD_RATE = 1_000_000.0  # no single service's negotiated price comes near a million dollars
COVERAGE_FLOOR = 0.5  # warn when fewer than half of a code type's rows have a Medicare benchmark
CHECKS = {
    "codes_in_dim_code": "Every fact row's code is in dim_code (warn: the shared code set may lag the payers').",
    "benchmark_coverage": f"Share of rows with a Medicare benchmark, per code type (warn below {COVERAGE_FLOOR:.0%}).",
    "rates_sane": f"No negative, zero or absurd (> ${ABSURD_RATE:,.0f}) negotiated rate (warn).",
}


def _summary(conn: duckdb.DuckDBPyConnection, glob: str) -> dict:
    """Chart and check results over the staged tiles (read back: cheaper than evaluating the join twice)."""
    tiles = f"read_parquet('{glob}', hive_partitioning = true)"
    rows = conn.execute(
        f"SELECT billing_class, list(rate_to_medicare) FILTER (WHERE rate_to_medicare IS NOT NULL), "
        f"count(rate_to_medicare), count(rate_to_wc) FROM {tiles} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    png = amounts_by_group_png(
        {str(b): v for b, v, *_ in rows}, "negotiated rate ÷ Medicare by billing class", money=False
    )
    missing, missing_codes = conn.execute(
        f"SELECT count(*), list(DISTINCT code ORDER BY code)[:10] FROM {tiles} WHERE NOT in_dim_code"
    ).fetchone()
    coverage = {
        str(t): round(share, 4)
        for t, share in conn.execute(
            f"SELECT code_type, count(medicare_rate) / count(*) FROM {tiles} GROUP BY 1 ORDER BY 1"
        ).fetchall()
    }
    bad, examples = conn.execute(
        f"SELECT count(*), list(struct_pack(code, negotiated_rate, payer_slug))[:5] FROM {tiles} "
        f"WHERE negotiated_rate <= 0 OR negotiated_rate > {ABSURD_RATE}"
    ).fetchone()
    warn = dg.AssetCheckSeverity.WARN
    return {
        "with_medicare": sum(r[2] for r in rows),
        "with_wc_max": sum(r[3] for r in rows),
        "chart": image_metadata(png, "rate ÷ Medicare by billing class"),
        "checks": [
            dg.AssetCheckResult(
                check_name="codes_in_dim_code", passed=missing == 0, severity=warn,
                metadata={"rows_missing": missing, "codes": dg.MetadataValue.json(missing_codes)},
            ),
            dg.AssetCheckResult(
                check_name="benchmark_coverage", passed=all(v >= COVERAGE_FLOOR for v in coverage.values()),
                severity=warn, metadata={"share_with_medicare": dg.MetadataValue.json(coverage)},
            ),
            dg.AssetCheckResult(
                check_name="rates_sane", passed=bad == 0, severity=warn,
                metadata={"bad_rows": bad, "examples": dg.MetadataValue.json(examples)},
            ),
        ],
    }  # fmt: skip


@dg.asset(
    key=FACT_RATE_ENRICHED,
    ins={
        "fact_rate": dg.AssetIn(FACT_RATE),
        "dim_code": dg.AssetIn(DIM_CODE, metadata=OPTIONAL),
        "professional": dg.AssetIn(BENCH_MEDICARE_PROFESSIONAL, metadata=OPTIONAL),
        "opps": dg.AssetIn(BENCH_MEDICARE_OPPS, metadata=OPTIONAL),
        "asc": dg.AssetIn(BENCH_MEDICARE_ASC, metadata=OPTIONAL),
        **{f"wc_{state.lower()}": dg.AssetIn(BENCH_WC[state], metadata=OPTIONAL) for state in WC_BENCH_STATES},
    },
    partitions_def=pt.file_partitions,
    group_name=GROUP,
    kinds={"parquet", "duckdb"},
    owners=OWNERS,
    tags={"family": "rates_warehouse", "layer": "tiles"},
    pool="duckdb",
    check_specs=[dg.AssetCheckSpec(name, asset=FACT_RATE_ENRICHED, description=d) for name, d in CHECKS.items()],
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
    wc_ca: SqlFrame | None,
    wc_ga: SqlFrame | None,
    wc_nc: SqlFrame | None,
) -> dg.MaterializeResult:
    def src(frame: SqlFrame | None) -> str | None:
        return star.source(frame.sql) if frame is not None else None

    sql = enriched_sql(
        star.source(fact_rate.sql), src(dim_code), src(professional), src(opps), src(asc),
        [star.source(w.sql) for w in (wc_ca, wc_ga, wc_nc) if w is not None],
    )  # fmt: skip
    database = fact_rate.database or ":memory:"
    with duckdb.connect(database, read_only=database != ":memory:") as conn:
        written = tiles.replace_partition(
            conn, sql, TILE_NAME, context.partition_key, summarize=lambda glob: _summary(conn, glob)
        )
    chart, checks = written.pop("chart", None), written.pop("checks", None)
    if checks is None:  # the partition has no rate row: nothing to check
        checks = [dg.AssetCheckResult(check_name=name, passed=True, metadata={"rows": 0}) for name in CHECKS]
    return dg.MaterializeResult(
        metadata={"dagster/row_count": written["rows"], **written, **({"chart": chart} if chart else {})},
        check_results=checks,
    )

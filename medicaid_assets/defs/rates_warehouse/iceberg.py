"""The benchmarks as Apache Iceberg tables (namespace ``rates_warehouse``), for engines that read Iceberg (why:
docs/decisions/0004-iceberg-for-rates-warehouse.md). Medicare tables are replaced whole (one commit each); the
workers'-comp table is partitioned by state and each state's partition is replaced alone."""

import dagster as dg
import polars as pl

from medicaid_assets.dagster_kit.iceberg import IcebergResource
from medicaid_assets.dagster_kit.metadata import OWNERS, column_schema
from medicaid_assets.defs.rates_warehouse.keys import (
    BENCH_MEDICARE_ASC,
    BENCH_MEDICARE_OPPS,
    BENCH_WC,
    GROUP,
    ICEBERG_BENCH_ASC,
    ICEBERG_BENCH_OPPS,
    ICEBERG_BENCH_WC,
    ICEBERG_TABLES,
)


@dg.asset(
    key=ICEBERG_TABLES,
    ins={
        "opps": dg.AssetIn(BENCH_MEDICARE_OPPS),
        "asc": dg.AssetIn(BENCH_MEDICARE_ASC),
        **{f"wc_{state.lower()}": dg.AssetIn(key) for state, key in BENCH_WC.items()},
    },
    group_name=GROUP,
    kinds={"iceberg"},
    owners=OWNERS,
    tags={"family": "rates_warehouse"},
    pool="duckdb",
    description="The benchmarks as Iceberg tables bench_medicare_opps, bench_medicare_asc and bench_wc (partitioned "
    "by state) in the configured catalog and warehouse (MEDICAID_ICEBERG_*): DuckDB's iceberg_scan, Trino, Spark "
    "and Athena read them.",
)
def iceberg_tables(
    context: dg.AssetExecutionContext,
    iceberg: IcebergResource,
    opps: pl.DataFrame,
    asc: pl.DataFrame,
    **wc: pl.DataFrame,
) -> dg.MaterializeResult:
    written = [iceberg.write(ICEBERG_BENCH_OPPS, opps.to_arrow()), iceberg.write(ICEBERG_BENCH_ASC, asc.to_arrow())]
    for state in BENCH_WC:
        written.append(iceberg.write(ICEBERG_BENCH_WC, wc[f"wc_{state.lower()}"].to_arrow(), "state", state))
    for item in written:
        context.log.info(f"{item['table']} {item['partition'] or '(whole table)'}: {item['rows']:,} rows")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(item["rows"] for item in written),
            "dagster/column_schema": column_schema({"table": "VARCHAR", "partition": "VARCHAR", "rows": "BIGINT"}),
            "tables": dg.MetadataValue.json(written),
            "warehouse": iceberg.warehouse,
        }
    )

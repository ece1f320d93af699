"""The benchmarks and dimensions as Apache Iceberg tables (namespace ``rates_warehouse``), for engines that read Iceberg (why:
docs/decisions/0007-iceberg-for-rates-warehouse.md). Medicare tables are replaced whole (one commit each); the
workers'-comp table is partitioned by state and each state's partition is replaced alone."""

import dagster as dg
import polars as pl
import pyarrow as pa

from medicaid_assets.dagster_kit.iceberg import IcebergResource
from medicaid_assets.dagster_kit.metadata import OWNERS, column_schema
from medicaid_assets.defs.rates_warehouse.keys import (
    BENCH_MEDICARE_ASC,
    BENCH_MEDICARE_OPPS,
    BENCH_WC,
    DIM_CODE,
    DIM_NPI,
    DIM_NPI_ADDRESS,
    GROUP,
    ICEBERG_BENCH_ASC,
    ICEBERG_BENCH_OPPS,
    ICEBERG_BENCH_WC,
    ICEBERG_DIMENSIONS,
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
    return _result(written, iceberg)


def _result(written: list[dict], iceberg: IcebergResource) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(item["rows"] for item in written),
            "dagster/column_schema": column_schema({"table": "VARCHAR", "partition": "VARCHAR", "rows": "BIGINT"}),
            "tables": dg.MetadataValue.json(written),
            "warehouse": iceberg.warehouse,
        }
    )


@dg.asset(
    key=ICEBERG_DIMENSIONS,
    ins={
        "dim_code": dg.AssetIn(DIM_CODE),
        "dim_npi": dg.AssetIn(DIM_NPI),
        "dim_npi_address": dg.AssetIn(DIM_NPI_ADDRESS),
    },
    group_name=GROUP,
    kinds={"iceberg"},
    owners=OWNERS,
    tags={"family": "rates_warehouse"},
    pool="duckdb",
    description="dim_code, dim_npi and dim_npi_address as Iceberg tables of the same names (each replaced whole, one "
    "commit), beside the benchmarks. Phase 2 narrows the provider dimensions to the NPIs the rates name.",
)
def iceberg_dimensions(
    iceberg: IcebergResource, dim_code: pa.Table, dim_npi: pa.Table, dim_npi_address: pa.Table
) -> dg.MaterializeResult:
    tables = {"dim_code": dim_code, "dim_npi": dim_npi, "dim_npi_address": dim_npi_address}
    return _result([iceberg.write(name, table) for name, table in tables.items()], iceberg)

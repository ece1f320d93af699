"""The star schema and its benchmarks as Apache Iceberg tables (namespace ``rates_warehouse``), for engines that read
Iceberg (why: docs/decisions/0007-iceberg-for-rates-warehouse.md), named as the DuckDB/parquet tables.

Unpartitioned tables are replaced whole (one commit each); ``bench_wc`` is partitioned by state and ``fact_rate`` by
``file_key`` (the price-transparency partition), and each run replaces only its own partition. Tables built as SQL
are streamed from DuckDB into Iceberg in chunks (``dagster_kit.iceberg.STREAM_ROWS``), so memory holds one chunk.
"""

import dagster as dg
import duckdb
import polars as pl
import pyarrow as pa

from medicaid_assets.dagster_kit.iceberg import IcebergResource
from medicaid_assets.dagster_kit.io_managers import ALLOW_MISSING, SqlFrame
from medicaid_assets.dagster_kit.metadata import OWNERS, column_schema
from medicaid_assets.defs.price_transparency import keys as pt
from medicaid_assets.defs.rates_warehouse.keys import (
    BENCH_MEDICARE_ASC,
    BENCH_MEDICARE_OPPS,
    BENCH_MEDICARE_PROFESSIONAL,
    BENCH_WC,
    DIM_CODE,
    DIM_NPI,
    DIM_NPI_ADDRESS,
    DIM_PAYER,
    DIM_POS_SET,
    DIM_PROVIDER_GROUP,
    FACT_RATE,
    GROUP,
    ICEBERG_BENCH_ASC,
    ICEBERG_BENCH_OPPS,
    ICEBERG_BENCH_WC,
    ICEBERG_DIMENSIONS,
    ICEBERG_FACT_RATE,
    ICEBERG_STAR,
    ICEBERG_TABLES,
    XREF_PG_MEMBER_NPI,
    XREF_PG_MEMBER_TIN,
)

BATCH_ROWS = 100_000  # rows per Arrow batch DuckDB hands over while streaming
STAR_TABLES = {
    "bench_medicare_professional": BENCH_MEDICARE_PROFESSIONAL,
    "dim_payer": DIM_PAYER,
    "dim_pos_set": DIM_POS_SET,
    "dim_provider_group": DIM_PROVIDER_GROUP,
    "xref_pg_member_npi": XREF_PG_MEMBER_NPI,
    "xref_pg_member_tin": XREF_PG_MEMBER_TIN,
}


# What every Iceberg asset of the family declares alike.
ICEBERG_ASSET = {
    "group_name": GROUP,
    "kinds": {"iceberg"},
    "owners": OWNERS,
    "tags": {"family": "rates_warehouse"},
    "pool": "duckdb",
}


@dg.asset(
    key=ICEBERG_TABLES,
    ins={
        "opps": dg.AssetIn(BENCH_MEDICARE_OPPS),
        "asc": dg.AssetIn(BENCH_MEDICARE_ASC),
        **{f"wc_{state.lower()}": dg.AssetIn(key) for state, key in BENCH_WC.items()},
    },
    **ICEBERG_ASSET,
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
    **ICEBERG_ASSET,
    description="dim_code, dim_npi and dim_npi_address as Iceberg tables of the same names (each replaced whole, one "
    "commit), beside the benchmarks.",
)
def iceberg_dimensions(
    iceberg: IcebergResource, dim_code: pa.Table, dim_npi: pa.Table, dim_npi_address: pa.Table
) -> dg.MaterializeResult:
    tables = {"dim_code": dim_code, "dim_npi": dim_npi, "dim_npi_address": dim_npi_address}
    return _result([iceberg.write(name, table) for name, table in tables.items()], iceberg)


def _stream(iceberg: IcebergResource, name: str, frame: SqlFrame, column: str | None = None, value: str | None = None):
    """Evaluate ``frame`` in DuckDB where it is stored and stream its rows into the Iceberg table ``name``."""
    database = frame.database or ":memory:"
    with duckdb.connect(database, read_only=database != ":memory:") as conn:
        return iceberg.write(name, conn.execute(frame.sql).to_arrow_reader(BATCH_ROWS), column, value)


@dg.asset(
    key=ICEBERG_STAR,
    ins={name: dg.AssetIn(key, metadata={ALLOW_MISSING: True}) for name, key in STAR_TABLES.items()},
    **ICEBERG_ASSET,
    description="bench_medicare_professional, dim_payer, dim_pos_set, dim_provider_group, xref_pg_member_npi and "
    "xref_pg_member_tin as Iceberg tables of the same names, each replaced whole in one commit (rows streamed from "
    "DuckDB); a table not built yet is left as it is.",
)
def iceberg_star(
    context: dg.AssetExecutionContext,
    iceberg: IcebergResource,
    bench_medicare_professional: SqlFrame | None,
    dim_payer: SqlFrame | None,
    dim_pos_set: SqlFrame | None,
    dim_provider_group: SqlFrame | None,
    xref_pg_member_npi: SqlFrame | None,
    xref_pg_member_tin: SqlFrame | None,
) -> dg.MaterializeResult:
    tables = {
        "bench_medicare_professional": bench_medicare_professional,
        "dim_payer": dim_payer,
        "dim_pos_set": dim_pos_set,
        "dim_provider_group": dim_provider_group,
        "xref_pg_member_npi": xref_pg_member_npi,
        "xref_pg_member_tin": xref_pg_member_tin,
    }
    written = [_stream(iceberg, name, frame) for name, frame in tables.items() if frame is not None]
    for item in written:
        context.log.info(f"{item['table']}: {item['rows']:,} rows")
    return _result(written, iceberg)


@dg.asset(
    key=ICEBERG_FACT_RATE,
    ins={"fact_rate": dg.AssetIn(FACT_RATE)},
    partitions_def=pt.file_partitions,
    **ICEBERG_ASSET,
    description="fact_rate as the Iceberg table fact_rate, partitioned by file_key: a run replaces exactly its "
    "price-transparency file's rows in one commit (streamed from DuckDB in chunks).",
)
def iceberg_fact_rate(
    context: dg.AssetExecutionContext, iceberg: IcebergResource, fact_rate: SqlFrame
) -> dg.MaterializeResult:
    return _result([_stream(iceberg, "fact_rate", fact_rate, pt.FILE_KEY, context.partition_key)], iceberg)

"""Phase 2 assets: the Medicare professional benchmark and the star schema over the price-transparency tables.

Every value is a :class:`SqlFrame` (the SQL of ``star.py`` over the stored inputs), so the IO manager evaluates it
where the data lives and no rate row enters Python. ``fact_rate`` is partitioned like the rates (one partition per
payer × in-network file, partition column ``file_key``): re-running a partition replaces exactly its rows in one
transaction. The dimensions and cross-references are small and rebuilt whole from every stored partition.
"""

import dagster as dg

from medicaid_assets.dagster_kit.io_managers import (
    PARTITION_EXPR,
    PREVIEW_COLUMNS,
    SUMMARY_SQL,
    SqlFrame,
)
from medicaid_assets.dagster_kit.metadata import OWNERS
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.price_transparency import keys as pt
from medicaid_assets.defs.rates_warehouse import star
from medicaid_assets.defs.rates_warehouse.dims import npi_address_sql, nppes_loaded
from medicaid_assets.defs.rates_warehouse.keys import (
    BENCH_MEDICARE_PROFESSIONAL,
    DIM_PAYER,
    DIM_POS_SET,
    DIM_PROVIDER_GROUP,
    FACT_RATE,
    GROUP,
    XREF_PG_MEMBER_NPI,
    XREF_PG_MEMBER_TIN,
)
from medicaid_assets.defs.reference.fee_schedules import keys as fee_schedules
from medicaid_assets.defs.reference.nppes import keys as nppes

TAGS = {"family": "rates_warehouse"}
NEWEST_RELEASE = dg.LastPartitionMapping()
EVERY_FILE = {"allow_missing_partitions": True}  # files not read yet are skipped


@dg.asset(
    key=BENCH_MEDICARE_PROFESSIONAL,
    ins={
        "pfs_amounts": dg.AssetIn(fee_schedules.PFS_AMOUNTS, partition_mapping=NEWEST_RELEASE),
        "pfs_state_amounts": dg.AssetIn(fee_schedules.PFS_STATE_AMOUNTS, partition_mapping=NEWEST_RELEASE),
    },
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags=TAGS,
    pool="duckdb",
    metadata={
        PREVIEW_COLUMNS: 12,
        SUMMARY_SQL: "SELECT count(DISTINCT code) AS codes, count(DISTINCT (carrier, locality)) AS localities, "
        "any_value(release) AS release FROM value",
    },
    description="Medicare physician fee schedule benchmark of the newest PFS release: one row per paid code × "
    "modifier × carrier/locality with its non-facility and facility amounts, the state's average (unweighted mean "
    "of its localities) and the national amount (RVUs × CF).",
)
def bench_medicare_professional(pfs_amounts: SqlFrame, pfs_state_amounts: SqlFrame) -> SqlFrame:
    return SqlFrame(
        star.bench_medicare_professional_sql(star.source(pfs_amounts.sql), star.source(pfs_state_amounts.sql))
    )


@dg.asset(
    key=FACT_RATE,
    ins={
        "rates": dg.AssetIn(pt.RATES),
        "files": dg.AssetIn(pt.FILES),
        "providers": dg.AssetIn(pt.PROVIDERS),
    },
    deps=[nppes.PROVIDERS],
    partitions_def=pt.file_partitions,
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags=TAGS,
    pool="duckdb",
    metadata={
        PARTITION_EXPR: pt.FILE_KEY,
        PREVIEW_COLUMNS: 12,
        SUMMARY_SQL: "SELECT count(DISTINCT code) AS codes, count(DISTINCT pg_uid) AS provider_groups, "
        "count(*) FILTER (WHERE state IS NULL) AS rows_without_state FROM value",
    },
    description="The fact table: one row per negotiated rate of a payer's in-network file (payer × code × provider "
    "group × price and setting) with payer_slug, state (where most of the group's NPIs practise, per the NPPES "
    "provider table; null until NPPES is loaded), "
    "billing_class, code_type, code, negotiated_rate/type, pg_uid, pos_set_id and the file's year and month. "
    "Partitioned per file like the rates: re-running a partition replaces exactly its rows.",
)
def fact_rate(warehouse: WarehouseResource, rates: SqlFrame, files: SqlFrame, providers: SqlFrame) -> SqlFrame:
    with warehouse.get_connection() as conn:
        loaded = nppes_loaded(conn)
    # the file's own NPIs, looked up in NPPES directly: a new file's groups get their state without waiting for
    # dim_npi_address (narrowed to the files stored when it was last built)
    addresses = star.source(npi_address_sql(star.source(providers.sql))) if loaded else None
    states = star.group_state_sql(star.source(providers.sql), addresses)
    return SqlFrame(star.fact_rate_sql(star.source(rates.sql), star.source(files.sql), states))


def _dimension(key: dg.AssetKey, inputs: dict[str, dg.AssetKey], description: str):
    """An unpartitioned star table rebuilt whole, as SQL over every stored partition of its inputs."""
    return dg.asset(
        key=key,
        ins={name: dg.AssetIn(upstream, metadata=EVERY_FILE) for name, upstream in inputs.items()},
        group_name=GROUP,
        kinds={"duckdb", "parquet"},
        owners=OWNERS,
        tags={**TAGS, "layer": "dimension"},
        pool="duckdb",
        metadata={PREVIEW_COLUMNS: 8},
        description=description,
    )


@_dimension(
    DIM_PAYER,
    {"rates": pt.RATES, "files": pt.FILES},
    "One row per payer: payer_slug (the catalog name), payer_uuid, the reporting entity its newest file names, "
    "files and rate rows.",
)
def dim_payer(rates: SqlFrame, files: SqlFrame) -> SqlFrame:
    return SqlFrame(star.dim_payer_sql(star.source(rates.sql), star.source(files.sql)))


@_dimension(
    DIM_POS_SET,
    {"rates": pt.RATES},
    "One row per set of place-of-service codes the rates name (pos_set_id = md5 of the sorted codes; the empty set "
    "means the file named none).",
)
def dim_pos_set(rates: SqlFrame) -> SqlFrame:
    return SqlFrame(star.dim_pos_set_sql(star.source(rates.sql)))


@_dimension(
    DIM_PROVIDER_GROUP,
    {"rates": pt.RATES},
    "One row per provider group (pg_uid = the price-transparency provider_group_uuid: the same TIN and NPIs in any "
    "file share it) with the reference id as the file wrote it, TIN, NPI count and the payers naming it.",
)
def dim_provider_group(rates: SqlFrame) -> SqlFrame:
    return SqlFrame(star.dim_provider_group_sql(star.source(rates.sql)))


@_dimension(
    XREF_PG_MEMBER_NPI,
    {"providers": pt.PROVIDERS},
    "Provider group → member NPI (one row each), with the check-digit verdict.",
)
def xref_pg_member_npi(providers: SqlFrame) -> SqlFrame:
    return SqlFrame(star.xref_pg_member_npi_sql(star.source(providers.sql)))


@_dimension(XREF_PG_MEMBER_TIN, {"providers": pt.PROVIDERS}, "Provider group → TIN (type and value), one row each.")
def xref_pg_member_tin(providers: SqlFrame) -> SqlFrame:
    return SqlFrame(star.xref_pg_member_tin_sql(star.source(providers.sql)))

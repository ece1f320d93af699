"""Analysis marts over the spending table: every row enriched with its providers and its code.

``marts/spending_enriched`` is a warehouse table written **in place** (decision 0001: a bulk SQL table that a weekly
NPPES update patches row by row), partitioned by month like the spending table: a run replaces exactly its months
in one transaction. ``marts/spending_enriched_npi_refresh`` is partitioned like the weekly NPPES bundles: it rewrites
the provider columns of the rows whose billing or servicing NPI the weekly changed, and nothing else.
"""

from collections.abc import Iterator

import dagster as dg
import duckdb
import pyarrow as pa

from medicaid_assets.dagster_kit.io_managers import ALLOW_MISSING
from medicaid_assets.dagster_kit.metadata import OWNERS, markdown_table
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.medicaid_spending.keys import (
    MARTS_GROUP,
    MARTS_SCHEMA,
    SPENDING,
    SPENDING_ENRICHED,
    SPENDING_ENRICHED_TABLE,
    SPENDING_ENRICHED_WEEKLY,
    monthly_partitions,
)
from medicaid_assets.defs.medicaid_spending.marts_sql import (
    ENRICHED_COLUMNS,
    MONTH_TOTALS_SQL,
    enriched_select_sql,
    refresh_npis_sql,
)
from medicaid_assets.defs.reference.code_sets.keys import TAXONOMY
from medicaid_assets.defs.reference.nppes.keys import (
    APPLIED_BUNDLES_TABLE,
    PROVIDER_TABLE,
    PROVIDERS,
    WEEKLY_UPDATE,
    nppes_weekly_partitions,
)
from medicaid_assets.defs.reference.resolution.keys import HCPCS_MAPPING
from medicaid_assets.layout import DataLayout

TAGS = {"mart": "medicaid"}
PREVIEW = (
    "claim_month",
    "billing_npi",
    "billing_provider_name",
    "billing_npi_status",
    "billing_taxonomy_code",
    "billing_state",
    "hcpcs_code",
    "code_kind",
    "code_resolved",
    "claims",
    "paid",
)
PAID_TOLERANCE = 0.005  # sums of doubles in another order may differ in the last bits, never by half a cent


def column_schema() -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, type_, description=text) for name, (type_, text) in ENRICHED_COLUMNS.items()]
    )


def register_codes(conn: duckdb.DuckDBPyConnection, layout: DataLayout) -> None:
    """``codes``: one row per resolved code with its description (empty before the HCPCS mapping exists)."""
    path = layout.hcpcs_mapping
    if path.is_file():
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE codes AS SELECT trim(hcpcs_code) AS hcpcs_code, "
            "min_by(coalesce(nullif(long_desc, ''), short_desc), ord) AS description "
            "FROM (SELECT *, row_number() OVER () AS ord FROM read_csv(?, header = true, all_varchar = true)) "
            "GROUP BY 1",
            [str(path)],
        )
    else:
        conn.execute("CREATE OR REPLACE TEMP TABLE codes (hcpcs_code VARCHAR, description VARCHAR)")


def _month_totals(conn: duckdb.DuckDBPyConnection, window: dict) -> list[tuple]:
    return conn.execute(MONTH_TOTALS_SQL.format(table=SPENDING_ENRICHED_TABLE), window).fetchall()


@dg.asset(
    key=SPENDING_ENRICHED,
    deps=[SPENDING, PROVIDERS, HCPCS_MAPPING],
    ins={"nucc_taxonomy": dg.AssetIn(TAXONOMY)},
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name=MARTS_GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    tags=TAGS,
    metadata={"dagster/column_schema": column_schema(), "table": SPENDING_ENRICHED_TABLE},
    description=(
        f"DuckDB table `{SPENDING_ENRICHED_TABLE}`: one row per spending row (same months, partitioned by "
        "claim_month) with the billing and servicing provider's name, entity type, NPI status (active, deactivated, "
        "unknown, invalid), primary taxonomy and its NUCC classification/specialization, practice state and ZIP5, and "
        "the code's description, kind and whether it resolved. Written in place; a weekly NPPES update patches the "
        "rows of the NPIs it touched (marts/spending_enriched_npi_refresh)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "matches_spending_per_month",
            asset=SPENDING_ENRICHED,
            blocking=True,
            description="For every month written, the row count and the paid total equal the spending table's.",
        )
    ],
)
def spending_enriched(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, data: DataDirResource, nucc_taxonomy: pa.Table
) -> Iterator[dg.MaterializeResult]:
    """Replace the run's months (one or a range) in one transaction, then compare each month with the source."""
    window = context.partition_time_window
    params = {"start": window.start.date(), "end": window.end.date()}
    with warehouse.get_connection() as conn:
        conn.register("taxonomy", nucc_taxonomy)
        register_codes(conn, data.layout)
        select = enriched_select_sql()
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {MARTS_SCHEMA}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {SPENDING_ENRICHED_TABLE} AS SELECT * FROM ({select}) LIMIT 0", params
            )
            conn.execute(
                f"DELETE FROM {SPENDING_ENRICHED_TABLE} WHERE claim_month >= $start AND claim_month < $end", params
            )
            conn.execute(f"INSERT INTO {SPENDING_ENRICHED_TABLE} {select}", params)
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        totals = _month_totals(conn, params)
        preview = conn.execute(
            f"SELECT {', '.join(PREVIEW)} FROM {SPENDING_ENRICHED_TABLE} "
            "WHERE claim_month >= $start AND claim_month < $end ORDER BY paid DESC LIMIT 10",
            params,
        ).fetchall()
        statuses = dict(
            conn.execute(
                f"SELECT coalesce(billing_npi_status, 'blank'), count(*) FROM {SPENDING_ENRICHED_TABLE} "
                "WHERE claim_month >= $start AND claim_month < $end GROUP BY ALL ORDER BY ALL",
                params,
            ).fetchall()
        )
    mismatched = [
        {"month": str(m), "rows": rows, "paid": paid, "spending_rows": s_rows, "spending_paid": s_paid}
        for m, rows, paid, s_rows, s_paid in totals
        if rows != s_rows or abs(paid - s_paid) > PAID_TOLERANCE
    ]
    rows = sum(t[1] for t in totals)
    context.log.info(f"{SPENDING_ENRICHED_TABLE}: {rows:,} rows over {len(totals)} months")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "dagster/table_name": SPENDING_ENRICHED_TABLE,
            "months": len(totals),
            "billing_npi_status": dg.MetadataValue.json(statuses),
            "preview": dg.MetadataValue.md(markdown_table(PREVIEW, preview)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="matches_spending_per_month",
                passed=not mismatched,
                metadata={"months_compared": len(totals), "mismatched": dg.MetadataValue.json(mismatched[:12])},
            )
        ],
    )


@dg.asset(
    key=SPENDING_ENRICHED_WEEKLY,
    deps=[WEEKLY_UPDATE],
    # Part of nppes_weekly_job, which may run before the code set was ever built: then nothing is refreshed.
    ins={"nucc_taxonomy": dg.AssetIn(TAXONOMY, metadata={ALLOW_MISSING: True})},
    partitions_def=nppes_weekly_partitions,
    pool="duckdb",
    group_name=MARTS_GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    tags=TAGS,
    description=(
        f"One weekly NPPES bundle carried into `{SPENDING_ENRICHED_TABLE}`: the provider columns of the rows whose "
        "billing or servicing NPI the weekly changed are recomputed, in one transaction; no other row is written."
    ),
)
def spending_enriched_npi_refresh(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, nucc_taxonomy: pa.Table | None
) -> dg.MaterializeResult:
    key = context.partition_key
    with warehouse.get_connection() as conn:
        exists = conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            SPENDING_ENRICHED_TABLE.split("."),
        ).fetchone()[0]
        if not exists or nucc_taxonomy is None:
            context.log.info(f"{SPENDING_ENRICHED_TABLE} or the taxonomy code set is not built yet: nothing to refresh")
            return dg.MaterializeResult(metadata={"dagster/row_count": 0, "touched_npis": 0, "rows_updated": 0})
        conn.register("taxonomy", nucc_taxonomy)
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT npi FROM {PROVIDER_TABLE} WHERE source_file IN "
            f"(SELECT source_file FROM {APPLIED_BUNDLES_TABLE} WHERE bundle_key = ?)",
            [key],
        )
        touched = conn.execute("SELECT count(*) FROM touched").fetchone()[0]
        conn.execute("BEGIN TRANSACTION")
        try:
            updated = sum(
                conn.execute(refresh_npis_sql(SPENDING_ENRICHED_TABLE, role)).fetchone()[0]
                for role in ("billing", "servicing")
            )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    context.log.info(f"weekly {key}: {touched:,} NPIs changed, {updated:,} mart rows rewritten")
    return dg.MaterializeResult(
        metadata={"dagster/row_count": updated, "touched_npis": touched, "rows_updated": updated}
    )


marts_job = dg.define_asset_job(
    "medicaid_marts_job",
    # The weekly refresh belongs to nppes_weekly_job (its partitions are the weekly bundles).
    selection=dg.AssetSelection.groups(MARTS_GROUP) - dg.AssetSelection.assets(SPENDING_ENRICHED_WEEKLY),
    description="The Medicaid analysis marts: the enriched table over the months of the run (all months in one run "
    "for a full refresh), then the rollups, the fee index (needs a PFS release) and provider screening.",
)

"""The HHS Medicaid Provider Spending file, and its monthly-partitioned warehouse table."""

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq

from medicaid_assets.core.download import file_name_from_url
from medicaid_assets.core.npi import is_valid_npi
from medicaid_assets.core.safe_zip import single_member, unpack_if_compressed
from medicaid_assets.dagster_kit.charts import image_metadata, monthly_totals_png
from medicaid_assets.dagster_kit.metadata import OWNERS, money, table_metadata
from medicaid_assets.dagster_kit.ranged_runs import RANGE_TAGS
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.medicaid_spending.keys import (
    END_MONTH,
    FIRST_MONTH,
    GROUP,
    SPENDING,
    SPENDING_FILE,
    monthly_partitions,
)
from medicaid_assets.defs.medicaid_spending.spending_file import (
    COLUMN_DESCRIPTIONS,
    TABLE_COLUMNS,
    check_text,
    inspect_spending_file,
    load_window,
    out_of_range_sql,
    stale_months,
)

CODE_PATTERN = "^[A-Z0-9]{5}$"


@dg.asset(
    key=SPENDING_FILE,
    group_name=GROUP,
    kinds={"parquet", "http"},
    owners=OWNERS,
    tags={"source": "hhs"},
    description="The HHS Medicaid Provider Spending parquet (Jan 2018 – Dec 2024), downloaded to raw/medicaid/.",
)
def medicaid_spending_file(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
) -> dg.MaterializeResult:
    """Stream the file to a temp name, resume with Range, validate the footer and columns, then rename."""
    url = sources.spending_url
    dest = data.layout.raw_medicaid / file_name_from_url(url)

    def validate(path):
        if dest.suffix == ".parquet":
            check_text(inspect_spending_file(path))
        elif dest.suffix == ".zip":  # a zip without its parquet is refused before it is kept in raw/medicaid/
            single_member(path, ".parquet", data.max_extract_bytes)

    result = files.download(url, dest, log=context.log, validate=validate)
    spending = inspect_spending_file(unpack_if_compressed(dest))
    # The first ten rows only (a whole row group is ~1M rows to decode).
    preview = next(pq.ParquetFile(spending.path).iter_batches(batch_size=10)) if spending.rows else None
    context.log.info(
        f"{'reused' if result.reused else 'downloaded'} {dest} ({result.size:,} bytes, {spending.rows:,} rows)"
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(
                spending.rows,
                spending.schema,
                list(spending.schema),
                [list(r.values()) for r in preview.to_pylist()] if preview is not None else [],
                COLUMN_DESCRIPTIONS,
            ),
            "path": dg.MetadataValue.path(str(spending.path)),
            "source_url": dg.MetadataValue.url(url),
            "bytes": result.size,
            "sha256": result.sha256,
            "etag": result.etag or "",
            "last_modified": result.last_modified or "",
            "reused_existing_file": result.reused,
            "column_spelling": spending.spelling,
        },
        data_version=dg.DataVersion(result.sha256),
    )


@dg.asset(
    key=SPENDING,
    deps=[medicaid_spending_file],
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name=GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    tags={"source": "hhs"},
    description=(
        "Spending rows in DuckDB (table `spending`), partitioned by CLAIM_FROM_MONTH; columns in the original "
        "spelling whatever release the file is, months parsed from `YYYY-MM-01` or `YYYY-MM`. Picture: total paid "
        "per month, metadata entry `total_paid_per_month` (click [Show Markdown])."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "schema_and_types",
            asset=SPENDING,
            blocking=True,
            description="The table has exactly the original columns, in order, with their types.",
        ),
        dg.AssetCheckSpec(
            "months_in_range",
            asset=SPENDING,
            blocking=True,
            description="Every row of the file falls in the declared months (2018-01..2024-12).",
        ),
        dg.AssetCheckSpec(
            "no_negative_claims",
            asset=SPENDING,
            blocking=True,
            description="TOTAL_CLAIMS and TOTAL_UNIQUE_BENEFICIARIES are never negative.",
        ),
        dg.AssetCheckSpec(
            "malformed_identifiers",
            asset=SPENDING,
            description="Share of rows whose NPIs or HCPCS codes are malformed (reported, warns above 5%).",
        ),
    ],
)
def spending_table(
    context: dg.AssetExecutionContext, data: DataDirResource, sources: SourcesResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Replace the partition's months in one transaction: a failure leaves the previous rows intact."""
    start, end = context.partition_time_window
    path = unpack_if_compressed(data.layout.raw_medicaid / file_name_from_url(sources.spending_url))
    spending = inspect_spending_file(path)
    with warehouse.get_connection() as conn:
        conn.execute("SET preserve_insertion_order = false")
        # Only months not loaded from this file, or changed since, are rewritten: a re-run with nothing new is a lookup.
        rewritten = load_window(conn, spending, start.date(), end.date())
        # Grouped by code first: the pattern then runs once per distinct code (~10k), not once per row (227M).
        stats = conn.execute(
            f"""
            SELECT coalesce(sum(n), 0)::BIGINT, coalesce(sum(negative), 0)::BIGINT,
                   coalesce(sum(n) FILTER (
                       WHERE HCPCS_CODE IS NULL OR NOT regexp_matches(upper(trim(HCPCS_CODE)), '{CODE_PATTERN}')
                   ), 0)::BIGINT,
                   min(first_month), max(last_month), sum(paid)
            FROM (
                SELECT HCPCS_CODE, count(*) AS n,
                       count(*) FILTER (WHERE TOTAL_CLAIMS < 0 OR TOTAL_UNIQUE_BENEFICIARIES < 0) AS negative,
                       min(CLAIM_FROM_MONTH) AS first_month, max(CLAIM_FROM_MONTH) AS last_month, sum(TOTAL_PAID) AS paid
                FROM spending WHERE CLAIM_FROM_MONTH >= ? AND CLAIM_FROM_MONTH < ? GROUP BY HCPCS_CODE
            )
            """,
            [start.date(), end.date()],
        ).fetchone()
        # A typed month column is answered from the parquet statistics, without reading the rows again.
        out_of_range = conn.execute(out_of_range_sql(spending), [FIRST_MONTH, END_MONTH]).fetchone()[0]
        # ~100k rows sampled by whole vectors (a row reservoir would read every row of the window).
        percent = min(100.0, 100 * 120_000 / max(stats[0] or 0, 1))
        npis = conn.execute(
            "SELECT BILLING_PROVIDER_NPI_NUM, SERVICING_PROVIDER_NPI_NUM FROM spending "
            f"WHERE CLAIM_FROM_MONTH >= ? AND CLAIM_FROM_MONTH < ? USING SAMPLE {percent:.6f}% (system, 42) "
            "LIMIT 100000",
            [start.date(), end.date()],
        ).fetchall()
        preview = conn.execute(
            "SELECT * FROM spending WHERE CLAIM_FROM_MONTH >= ? AND CLAIM_FROM_MONTH < ? LIMIT 10",
            [start.date(), end.date()],
        )
        preview_columns = [d[0] for d in preview.description]
        preview_rows = preview.fetchall()
        total_rows = conn.execute("SELECT count(*) FROM spending").fetchone()[0]
        paid_per_month = conn.execute("SELECT CLAIM_FROM_MONTH, sum(TOTAL_PAID) FROM spending GROUP BY ALL").fetchall()
        table_columns = {name: type_ for name, type_, *_ in conn.execute("DESCRIBE spending").fetchall()}
    rows, negative, bad_codes, min_month, max_month, paid = stats
    bad_npi = sum(
        1 for b, s in npis if not is_valid_npi((b or "").strip()) or (s is not None and not is_valid_npi(s.strip()))
    )
    npi_share = bad_npi / len(npis) if npis else 0.0
    code_share = bad_codes / rows if rows else 0.0
    context.log.info(
        f"{rows:,} rows for {start.date()}..{end.date()}, {len(rewritten)} month(s) rewritten, the rest current "
        f"(table now {total_rows:,} rows)"
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(rows, TABLE_COLUMNS, preview_columns, preview_rows, COLUMN_DESCRIPTIONS),
            "table": "spending",
            "table_rows_all_months": total_rows,
            "months": f"{min_month} .. {max_month}",
            "total_paid": money(paid),
            "column_spelling": spending.spelling,
            "source_file": dg.MetadataValue.path(str(path)),
            "months_rewritten": len(rewritten),
            "total_paid_per_month": image_metadata(
                monthly_totals_png(
                    {month: float(total or 0.0) for month, total in paid_per_month},
                    "Total paid per month (TOTAL_PAID), every month in the table",
                ),
                "total paid per month",
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="schema_and_types",
                passed=table_columns == TABLE_COLUMNS and list(table_columns) == list(TABLE_COLUMNS),
                metadata={"table_columns": dg.MetadataValue.json(table_columns), "file_columns": spending.mapping},
            ),
            dg.AssetCheckResult(
                check_name="months_in_range",
                passed=out_of_range == 0,
                metadata={"rows_outside_2018_01_2024_12": out_of_range},
            ),
            dg.AssetCheckResult(check_name="no_negative_claims", passed=negative == 0, metadata={"rows": negative}),
            dg.AssetCheckResult(
                check_name="malformed_identifiers",
                passed=npi_share <= 0.05 and code_share <= 0.05,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "malformed_npi_share_of_sampled_rows": round(npi_share, 5),
                    "non_5_char_code_share_of_rows": round(code_share, 5),
                },
            ),
        ],
    )


RANGE_START, RANGE_END = RANGE_TAGS


def stale_range_tags(
    tags: dict[str, str], data: DataDirResource, sources: SourcesResource, warehouse: WarehouseResource
) -> dict[str, str] | None:
    """``tags`` with their month range narrowed to the months the table needs loaded; None when every month
    is current (then a run would only re-record 84 unchanged partitions: ~10 s of event writes, no data).

    Unchanged when the table cannot tell (no warehouse or no load records yet, or another process holds the
    file): the run then decides, under the ``duckdb`` pool, as it always does.
    """
    path = unpack_if_compressed(data.layout.raw_medicaid / file_name_from_url(sources.spending_url))
    if not path.is_file() or not Path(warehouse.database).is_file():
        return tags
    start = date.fromisoformat(tags[RANGE_START])
    end = monthly_partitions.time_window_for_partition_key(tags[RANGE_END]).end.date()
    try:
        with duckdb.connect(warehouse.database, read_only=True) as conn:
            loads = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'spending_loads' AND NOT temporary"
            if not conn.execute(loads).fetchone()[0]:
                return tags
            stale = stale_months(conn, inspect_spending_file(path), start, end)
    except duckdb.IOException:  # locked by a writer elsewhere
        return tags
    if not stale:
        return None
    first, last = min(stale), max(stale)
    return {**tags, RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}

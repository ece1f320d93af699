"""The HHS Medicaid Provider Spending file, and its monthly-partitioned warehouse table."""

from datetime import date

import dagster as dg
import pyarrow.parquet as pq

from medicaid_assets.defs.metadata import OWNERS, table_metadata
from medicaid_assets.defs.progress import ProgressLogger
from medicaid_assets.lib.download import download
from medicaid_assets.lib.layout import file_name_from_url
from medicaid_assets.lib.npi import is_valid_npi
from medicaid_assets.lib.spending import (
    TABLE_DDL,
    inspect_spending_file,
    normalised_select,
    unpack_if_compressed,
)
from medicaid_assets.resources.files import HttpFilesResource
from medicaid_assets.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.resources.warehouse import WarehouseResource

FIRST_MONTH = date(2018, 1, 1)
END_MONTH = date(2025, 1, 1)  # exclusive: the file covers Jan 2018 - Dec 2024
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH.isoformat(), end_date=END_MONTH.isoformat())
CODE_PATTERN = "^[A-Z0-9]{5}$"


@dg.asset(
    key=["raw", "medicaid_spending_file"],
    group_name="sources",
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
            inspect_spending_file(path)

    with files.client() as client:
        result = download(
            client,
            url,
            dest,
            validate=validate,
            progress=ProgressLogger(context.log, dest.name),
            attempts=files.attempts,
            backoff_seconds=files.backoff_seconds,
        )
    spending = inspect_spending_file(unpack_if_compressed(dest))
    preview = pq.ParquetFile(spending.path).read_row_group(0).slice(0, 10) if spending.rows else None
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
    key=["warehouse", "spending"],
    deps=[medicaid_spending_file],
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name="warehouse",
    kinds={"duckdb"},
    owners=OWNERS,
    tags={"source": "hhs"},
    description=(
        "Spending rows in DuckDB (table `spending`), partitioned by CLAIM_FROM_MONTH; columns in the original "
        "spelling whatever release the file is, months parsed from `YYYY-MM-01` or `YYYY-MM`."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "months_in_range",
            asset=["warehouse", "spending"],
            blocking=True,
            description="Every row of the file falls in the declared months (2018-01..2024-12).",
        ),
        dg.AssetCheckSpec(
            "no_negative_claims",
            asset=["warehouse", "spending"],
            blocking=True,
            description="TOTAL_CLAIMS and TOTAL_UNIQUE_BENEFICIARIES are never negative.",
        ),
        dg.AssetCheckSpec(
            "malformed_identifiers",
            asset=["warehouse", "spending"],
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
    select = normalised_select(spending)
    with warehouse.get_connection() as conn:
        conn.execute("SET preserve_insertion_order = false")
        conn.execute(TABLE_DDL)
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(
                "DELETE FROM spending WHERE CLAIM_FROM_MONTH >= ? AND CLAIM_FROM_MONTH < ?", [start.date(), end.date()]
            )
            conn.execute(
                f"INSERT INTO spending SELECT * FROM ({select}) WHERE CLAIM_FROM_MONTH >= ? AND CLAIM_FROM_MONTH < ?",
                [start.date(), end.date()],
            )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        stats = conn.execute(
            f"""
            SELECT count(*),
                   count(*) FILTER (WHERE TOTAL_CLAIMS < 0 OR TOTAL_UNIQUE_BENEFICIARIES < 0),
                   count(*) FILTER (WHERE HCPCS_CODE IS NULL OR NOT regexp_matches(upper(trim(HCPCS_CODE)), '{CODE_PATTERN}')),
                   min(CLAIM_FROM_MONTH), max(CLAIM_FROM_MONTH), sum(TOTAL_PAID)
            FROM spending WHERE CLAIM_FROM_MONTH >= ? AND CLAIM_FROM_MONTH < ?
            """,
            [start.date(), end.date()],
        ).fetchone()
        out_of_range = conn.execute(
            f"SELECT count(*) FROM ({select}) WHERE CLAIM_FROM_MONTH IS NULL "
            "OR CLAIM_FROM_MONTH < ? OR CLAIM_FROM_MONTH >= ?",
            [FIRST_MONTH, END_MONTH],
        ).fetchone()[0]
        npis = conn.execute(
            "SELECT BILLING_PROVIDER_NPI_NUM, SERVICING_PROVIDER_NPI_NUM FROM spending "
            "WHERE CLAIM_FROM_MONTH >= ? AND CLAIM_FROM_MONTH < ? USING SAMPLE 100000 ROWS",
            [start.date(), end.date()],
        ).fetchall()
        preview = conn.execute(
            "SELECT * FROM spending WHERE CLAIM_FROM_MONTH >= ? AND CLAIM_FROM_MONTH < ? LIMIT 10",
            [start.date(), end.date()],
        )
        preview_columns = [d[0] for d in preview.description]
        preview_rows = preview.fetchall()
        total_rows = conn.execute("SELECT count(*) FROM spending").fetchone()[0]
    rows, negative, bad_codes, min_month, max_month, paid = stats
    bad_npi = sum(
        1 for b, s in npis if not is_valid_npi((b or "").strip()) or (s is not None and not is_valid_npi(s.strip()))
    )
    npi_share = bad_npi / len(npis) if npis else 0.0
    code_share = bad_codes / rows if rows else 0.0
    context.log.info(f"loaded {rows:,} rows for {start.date()}..{end.date()} (table now {total_rows:,} rows)")
    columns = {
        "BILLING_PROVIDER_NPI_NUM": "VARCHAR",
        "SERVICING_PROVIDER_NPI_NUM": "VARCHAR",
        "HCPCS_CODE": "VARCHAR",
        "CLAIM_FROM_MONTH": "DATE",
        "TOTAL_UNIQUE_BENEFICIARIES": "BIGINT",
        "TOTAL_CLAIMS": "BIGINT",
        "TOTAL_PAID": "DOUBLE",
    }
    return dg.MaterializeResult(
        metadata={
            **table_metadata(rows, columns, preview_columns, preview_rows),
            "table": "spending",
            "table_rows_all_months": total_rows,
            "months": f"{min_month} .. {max_month}",
            "total_paid": float(paid or 0.0),
            "column_spelling": spending.spelling,
            "source_file": dg.MetadataValue.path(str(path)),
        },
        check_results=[
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

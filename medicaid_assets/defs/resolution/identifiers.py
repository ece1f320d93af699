"""What the lookups need from the warehouse, handed over as parquet files.

The lookups run for hours against rate-limited APIs, NPI and HCPCS at once; holding the DuckDB file that
long would block every other writer. So these short steps (pool ``duckdb``) extract the distinct
identifiers and the NPPES rows of the dataset's NPIs, and the lookups read only these files and their
own SQLite caches.
"""

import dagster as dg
import pyarrow.parquet as pq

from medicaid_assets.defs.metadata import OWNERS, table_metadata
from medicaid_assets.lib.atomic import atomic_path
from medicaid_assets.resources.storage import DataDirResource
from medicaid_assets.resources.warehouse import WarehouseResource

DATASET_NPIS = "dataset_npis.parquet"
DATASET_CODES = "dataset_codes.parquet"
NPI_BULK_ROWS = "npi_bulk_rows.parquet"


def _copy_to_parquet(conn, sql: str, path) -> int:
    """COPY a query to ``path`` atomically; returns its row count."""
    with atomic_path(path) as tmp:
        conn.execute(f"COPY ({sql}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
    return pq.ParquetFile(path).metadata.num_rows


def _preview(path, columns: int | None = None) -> tuple[list[str], list[tuple]]:
    table = pq.ParquetFile(path).read_row_group(0) if pq.ParquetFile(path).num_row_groups else None
    if table is None:
        return [], []
    names = table.column_names[:columns]
    rows = table.select(names).slice(0, 10).to_pylist()
    return names, [tuple(r.values()) for r in rows]


@dg.asset(
    key=["resolution", "dataset_npis"],
    deps=[["warehouse", "spending"]],
    pool="duckdb",
    group_name="resolution",
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags={"identifier": "npi"},
    description="Distinct non-blank trimmed NPIs of billing ∪ servicing, with whether each passes the check digit.",
)
def dataset_npis(data: DataDirResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = data.layout.resolution / DATASET_NPIS
    sql = """
        SELECT npi, length(npi) = 10 AND regexp_full_match(npi, '[0-9]{10}') AS ten_digits
        FROM (
            SELECT DISTINCT trim(n) AS npi FROM (
                SELECT BILLING_PROVIDER_NPI_NUM AS n FROM spending
                UNION ALL SELECT SERVICING_PROVIDER_NPI_NUM FROM spending
            ) WHERE n IS NOT NULL AND trim(n) <> ''
        ) ORDER BY npi
    """
    with warehouse.get_connection() as conn:
        rows = _copy_to_parquet(conn, sql, path)
        billing, servicing = conn.execute(
            "SELECT count(DISTINCT trim(BILLING_PROVIDER_NPI_NUM)), count(DISTINCT trim(SERVICING_PROVIDER_NPI_NUM)) "
            "FROM spending"
        ).fetchone()
    columns, preview = _preview(path)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(rows, {"npi": "VARCHAR", "ten_digits": "BOOLEAN"}, columns, preview),
            "distinct_billing_npis": billing,
            "distinct_servicing_npis": servicing,
            "path": dg.MetadataValue.path(str(path)),
        }
    )


@dg.asset(
    key=["resolution", "dataset_codes"],
    deps=[["warehouse", "spending"]],
    pool="duckdb",
    group_name="resolution",
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags={"identifier": "hcpcs"},
    description="Distinct non-blank trimmed HCPCS_CODE values, raw spelling kept (matched case-insensitively).",
)
def dataset_codes(data: DataDirResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = data.layout.resolution / DATASET_CODES
    sql = """
        SELECT DISTINCT trim(HCPCS_CODE) AS hcpcs_code FROM spending
        WHERE HCPCS_CODE IS NOT NULL AND trim(HCPCS_CODE) <> '' ORDER BY hcpcs_code
    """
    with warehouse.get_connection() as conn:
        rows = _copy_to_parquet(conn, sql, path)
    columns, preview = _preview(path)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(rows, {"hcpcs_code": "VARCHAR"}, columns, preview),
            "path": dg.MetadataValue.path(str(path)),
        }
    )


@dg.asset(
    key=["resolution", "npi_bulk_rows"],
    # Weekly updates feed it too, so the weekly job re-resolves the NPIs a new bundle touches.
    deps=[dataset_npis, ["warehouse", "nppes_providers"], ["warehouse", "nppes_weekly_update"]],
    pool="duckdb",
    group_name="resolution",
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags={"identifier": "npi"},
    description=(
        "NPPES rows (provider table + other names, practice locations, endpoints) of the dataset's NPIs: "
        "the bulk preload, weekly records winning over monthly ones as the provider table already applies them."
    ),
    output_required=False,
)
def npi_bulk_rows(context: dg.AssetExecutionContext, data: DataDirResource, warehouse: WarehouseResource):
    """Skipped (with the NPI steps after it) when no dataset NPIs exist yet, e.g. a weekly bundle on a new install."""
    npis = data.layout.resolution / DATASET_NPIS
    path = data.layout.resolution / NPI_BULK_ROWS
    if not npis.is_file():
        context.log.info(f"{npis} does not exist yet (resolution/dataset_npis never ran): nothing to re-resolve")
        return
    sql = f"""
        WITH wanted AS (SELECT npi FROM read_parquet('{npis}') WHERE ten_digits),
        other_names AS (SELECT npi, list(o ORDER BY o.other_organization_name) AS rows
                        FROM nppes_other_names o SEMI JOIN wanted USING (npi) GROUP BY npi),
        locations AS (SELECT npi, list(l ORDER BY l.address_line1) AS rows
                      FROM nppes_practice_locations l SEMI JOIN wanted USING (npi) GROUP BY npi),
        endpoints AS (SELECT npi, list(e ORDER BY e.endpoint) AS rows
                      FROM nppes_endpoints e SEMI JOIN wanted USING (npi) GROUP BY npi)
        SELECT p.*, b.bundle_key,
               coalesce(o.rows, []) AS other_names_rows,
               coalesce(l.rows, []) AS practice_location_rows,
               coalesce(e.rows, []) AS endpoint_rows
        FROM nppes_providers p SEMI JOIN wanted USING (npi)
        LEFT JOIN (SELECT DISTINCT source_file, bundle_key FROM nppes_applied_bundles) b USING (source_file)
        LEFT JOIN other_names o USING (npi) LEFT JOIN locations l USING (npi) LEFT JOIN endpoints e USING (npi)
        ORDER BY npi
    """
    with warehouse.get_connection() as conn:
        rows = _copy_to_parquet(conn, sql, path)
        kinds = dict(conn.execute(f"SELECT source_kind, count(*) FROM read_parquet('{path}') GROUP BY ALL").fetchall())
    columns, preview = _preview(path, columns=6)
    schema = {f.name: str(f.type) for f in pq.read_schema(path)}
    yield dg.MaterializeResult(
        metadata={
            **table_metadata(rows, schema, columns, preview),
            "rows_from_monthly": kinds.get("monthly", 0),
            "rows_from_weekly": kinds.get("weekly", 0),
            "path": dg.MetadataValue.path(str(path)),
        }
    )

"""What the lookups need from the warehouse, handed over as parquet files.

The lookups run for hours against rate-limited APIs, NPI and HCPCS at once; holding the DuckDB file that
long would block every other writer. So these short steps (pool ``duckdb``) extract the distinct
identifiers and the NPPES rows of the dataset's NPIs, and the lookups read only these files and their
own SQLite caches.
"""

import hashlib
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from medicaid_assets.core.atomic import atomic_path
from medicaid_assets.core.stamps import Stamp
from medicaid_assets.dagster_kit.metadata import OWNERS, table_metadata
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.medicaid_spending.keys import SPENDING, table_state
from medicaid_assets.defs.reference.nppes.keys import PROVIDERS, WEEKLY_UPDATE
from medicaid_assets.defs.reference.resolution.keys import DATASET_CODES, DATASET_NPIS, GROUP, NPI_BULK_ROWS

DATASET_NPIS_FILE = "dataset_npis.parquet"
DATASET_CODES_FILE = "dataset_codes.parquet"
NPI_BULK_ROWS_FILE = "npi_bulk_rows.parquet"


def _copy_to_parquet(conn, sql: str, path: Path) -> int:
    """COPY a query to ``path`` atomically; returns its row count."""
    with atomic_path(path) as tmp:
        conn.execute(f"COPY ({sql}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
    return pq.ParquetFile(path).metadata.num_rows


def _stamp(data: DataDirResource, path: Path) -> Stamp:
    """The stamp of the hand-over file ``path`` (core/stamps): current while built from the same source digest."""
    return Stamp.of_output(data.layout.root, path.stem, path)


def _current(stamp: Stamp, source: str | None) -> dict | None:
    """The facts ``stamp`` keeps when its file was written from the table state ``source``, else None (no source:
    never current)."""
    return stamp.current({"source": source}) if source is not None else None


def _record(stamp: Stamp, source: str | None, **facts) -> dict:
    """Note the file just written from ``source`` (without a source the file is rebuilt every time)."""
    if source is None:
        stamp.clear()
        return facts
    return stamp.record({"source": source}, **facts)


def _preview(path, columns: int | None = None) -> tuple[list[str], list[tuple]]:
    """The first ten rows of the first ``columns`` columns (read alone: not the whole first row group)."""
    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names[:columns]
    batch = next(parquet.iter_batches(batch_size=10, columns=names), None)
    if batch is None:
        return [], []
    return names, [tuple(r.values()) for r in batch.to_pylist()]


@dg.asset(
    key=DATASET_NPIS,
    deps=[SPENDING],
    pool="duckdb",
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags={"identifier": "npi"},
    description="Distinct non-blank trimmed NPIs of billing ∪ servicing, with whether each passes the check digit.",
)
def dataset_npis(
    context: dg.AssetExecutionContext, data: DataDirResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Rewritten only when the spending table changed since (its load records say so); otherwise kept as is.

    Each column's raw values are made distinct first, on their own (one hash pass per column, as cheap as a
    bare ``SELECT DISTINCT``), and only those few distinct values are trimmed, flagged and sorted.
    """
    path = data.layout.resolution / DATASET_NPIS_FILE
    with warehouse.get_connection() as conn:
        source = table_state(conn)
        stamp = _current(_stamp(data, path), source)
        rewritten = stamp is None
        if rewritten:
            for table, column in (("billing_values", "BILLING"), ("servicing_values", "SERVICING")):
                conn.execute(
                    f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT DISTINCT {column}_PROVIDER_NPI_NUM AS n FROM spending"
                )
            conn.execute(
                """
                CREATE OR REPLACE TEMP TABLE dataset_npi_roles AS
                SELECT trim(n) AS npi, bool_or(billing) AS billing, bool_or(NOT billing) AS servicing
                FROM (SELECT n, true AS billing FROM billing_values UNION ALL SELECT n, false FROM servicing_values)
                WHERE n IS NOT NULL AND trim(n) <> '' GROUP BY ALL
                """
            )
            billing, servicing = conn.execute(
                "SELECT count(*) FILTER (WHERE billing), count(*) FILTER (WHERE servicing) FROM dataset_npi_roles"
            ).fetchone()
            sql = """
                SELECT npi, length(npi) = 10 AND regexp_full_match(npi, '[0-9]{10}') AS ten_digits
                FROM dataset_npi_roles ORDER BY npi
            """
            _copy_to_parquet(conn, sql, path)
            stamp = _record(
                _stamp(data, path), source, distinct_billing_npis=billing, distinct_servicing_npis=servicing
            )
            conn.execute("DROP TABLE billing_values; DROP TABLE servicing_values; DROP TABLE dataset_npi_roles")
        else:
            context.log.info(f"{path.name} is current (the spending table has not changed since): nothing rewritten")
    rows = pq.ParquetFile(path).metadata.num_rows
    columns, preview = _preview(path)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(rows, {"npi": "VARCHAR", "ten_digits": "BOOLEAN"}, columns, preview),
            "distinct_billing_npis": stamp["distinct_billing_npis"],
            "distinct_servicing_npis": stamp["distinct_servicing_npis"],
            "path": dg.MetadataValue.path(str(path)),
            "rewritten": rewritten,
        }
    )


@dg.asset(
    key=DATASET_CODES,
    deps=[SPENDING],
    pool="duckdb",
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags={"identifier": "hcpcs"},
    description="Distinct non-blank trimmed HCPCS_CODE values, raw spelling kept (matched case-insensitively).",
)
def dataset_codes(
    context: dg.AssetExecutionContext, data: DataDirResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Rewritten only when the spending table changed since; raw values made distinct before they are trimmed."""
    path = data.layout.resolution / DATASET_CODES_FILE
    sql = """
        SELECT DISTINCT trim(code) AS hcpcs_code FROM (SELECT DISTINCT HCPCS_CODE AS code FROM spending)
        WHERE code IS NOT NULL AND trim(code) <> '' ORDER BY hcpcs_code
    """
    with warehouse.get_connection() as conn:
        source = table_state(conn)
        rewritten = _current(_stamp(data, path), source) is None
        if rewritten:
            _copy_to_parquet(conn, sql, path)
            _record(_stamp(data, path), source)
        else:
            context.log.info(f"{path.name} is current (the spending table has not changed since): nothing rewritten")
    rows = pq.ParquetFile(path).metadata.num_rows
    columns, preview = _preview(path)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(rows, {"hcpcs_code": "VARCHAR"}, columns, preview),
            "path": dg.MetadataValue.path(str(path)),
            "rewritten": rewritten,
        }
    )


@dg.asset(
    key=NPI_BULK_ROWS,
    # Weekly updates feed it too, so the weekly job re-resolves the NPIs a new bundle touches.
    deps=[dataset_npis, PROVIDERS, WEEKLY_UPDATE],
    pool="duckdb",
    group_name=GROUP,
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
    npis = data.layout.resolution / DATASET_NPIS_FILE
    path = data.layout.resolution / NPI_BULK_ROWS_FILE
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
        # Current while the dataset's NPIs (rewritten only when they change) and the applied NPPES bundles are.
        st = npis.stat()
        applied = conn.execute("SELECT * FROM nppes_applied_bundles ORDER BY ALL").fetchall()
        source = hashlib.sha256(repr((st.st_size, st.st_mtime_ns, applied)).encode()).hexdigest()
        if _current(_stamp(data, path), source) is None:
            _copy_to_parquet(conn, sql, path)
            _record(_stamp(data, path), source)
        else:
            context.log.info(f"{path.name} is current (same dataset NPIs, same NPPES bundles): nothing rewritten")
        rows = pq.ParquetFile(path).metadata.num_rows
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

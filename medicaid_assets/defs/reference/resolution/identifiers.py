"""What the lookups need from the warehouse, handed over through the IO manager (decision 0001).

The lookups run for hours against rate-limited APIs, NPI and HCPCS at once; holding the DuckDB file that
long would block every other writer. So these short steps (pool ``duckdb``) return the distinct identifiers
and the NPPES rows of the dataset's NPIs as :class:`SqlFrame` values: the configured IO manager evaluates the
SQL in the warehouse and stores the result (parquet files under ``<data>/assets/resolution/`` by default, or
tables ``resolution.*`` in the warehouse), and the lookups load it from there.

Each value carries the digest of what it is built from (the spending table's load state; the dataset NPIs and
the applied NPPES bundles): the IO manager keeps a value stored from the same digest untouched, so a re-run
with nothing new rewrites nothing (metadata ``rewritten: False``).
"""

import hashlib

import dagster as dg

from medicaid_assets.dagster_kit.io_managers import ALLOW_MISSING, PREVIEW_COLUMNS, SUMMARY_SQL, SqlFrame
from medicaid_assets.dagster_kit.metadata import OWNERS
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.medicaid_spending.keys import SPENDING, table_state
from medicaid_assets.defs.reference.nppes.keys import PROVIDERS, WEEKLY_UPDATE
from medicaid_assets.defs.reference.resolution.keys import DATASET_CODES, DATASET_NPIS, GROUP, NPI_BULK_ROWS

# Each column's raw values are made distinct first, on their own (one hash pass per column, as cheap as a bare
# SELECT DISTINCT), and only those few distinct values are trimmed, flagged and sorted.
DATASET_NPIS_SQL = """
    WITH billing_values AS (SELECT DISTINCT BILLING_PROVIDER_NPI_NUM AS n FROM spending),
    servicing_values AS (SELECT DISTINCT SERVICING_PROVIDER_NPI_NUM AS n FROM spending),
    roles AS (
        SELECT trim(n) AS npi, bool_or(billing) AS billing, bool_or(NOT billing) AS servicing
        FROM (SELECT n, true AS billing FROM billing_values UNION ALL SELECT n, false FROM servicing_values)
        WHERE n IS NOT NULL AND trim(n) <> '' GROUP BY ALL
    )
    SELECT npi, length(npi) = 10 AND regexp_full_match(npi, '[0-9]{10}') AS ten_digits, billing, servicing
    FROM roles ORDER BY npi
"""

DATASET_CODES_SQL = """
    SELECT DISTINCT trim(code) AS hcpcs_code FROM (SELECT DISTINCT HCPCS_CODE AS code FROM spending)
    WHERE code IS NOT NULL AND trim(code) <> '' ORDER BY hcpcs_code
"""


def _spending_source(warehouse: WarehouseResource) -> str | None:
    """The spending table's load state (None: unknown, so the value is rebuilt every time)."""
    with warehouse.get_connection() as conn:
        return table_state(conn)


@dg.asset(
    key=DATASET_NPIS,
    deps=[SPENDING],
    pool="duckdb",
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags={"identifier": "npi"},
    metadata={
        SUMMARY_SQL: "SELECT count(*) FILTER (WHERE billing) AS distinct_billing_npis, "
        "count(*) FILTER (WHERE servicing) AS distinct_servicing_npis FROM value",
        PREVIEW_COLUMNS: 2,
    },
    description=(
        "Distinct non-blank trimmed NPIs of billing ∪ servicing, with whether each passes the check digit "
        "(and whether it bills, serves). Stored by the IO manager; rewritten only when the spending table changed."
    ),
)
def dataset_npis(warehouse: WarehouseResource) -> SqlFrame:
    """The SQL over the warehouse, evaluated there by the IO manager unless stored from the same spending state."""
    return SqlFrame(DATASET_NPIS_SQL, source=_spending_source(warehouse))


@dg.asset(
    key=DATASET_CODES,
    deps=[SPENDING],
    pool="duckdb",
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags={"identifier": "hcpcs"},
    metadata={PREVIEW_COLUMNS: 1},
    description=(
        "Distinct non-blank trimmed HCPCS_CODE values, raw spelling kept (matched case-insensitively). Stored by "
        "the IO manager; rewritten only when the spending table changed."
    ),
)
def dataset_codes(warehouse: WarehouseResource) -> SqlFrame:
    """Raw values made distinct before they are trimmed; evaluated in the warehouse by the IO manager."""
    return SqlFrame(DATASET_CODES_SQL, source=_spending_source(warehouse))


def _bulk_rows_sql(npis: SqlFrame) -> str:
    return f"""
        WITH wanted AS (SELECT npi FROM ({npis.sql}) WHERE ten_digits),
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


@dg.asset(
    key=NPI_BULK_ROWS,
    # Weekly updates feed it too, so the weekly job re-resolves the NPIs a new bundle touches.
    ins={"dataset_npis": dg.AssetIn(DATASET_NPIS, metadata={ALLOW_MISSING: True})},
    deps=[PROVIDERS, WEEKLY_UPDATE],
    pool="duckdb",
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags={"identifier": "npi"},
    metadata={
        SUMMARY_SQL: "SELECT count(*) FILTER (WHERE source_kind = 'monthly') AS rows_from_monthly, "
        "count(*) FILTER (WHERE source_kind = 'weekly') AS rows_from_weekly FROM value",
        PREVIEW_COLUMNS: 6,
    },
    description=(
        "NPPES rows (provider table + other names, practice locations, endpoints) of the dataset's NPIs: "
        "the bulk preload, weekly records winning over monthly ones as the provider table already applies them."
    ),
    output_required=False,
)
def npi_bulk_rows(context: dg.AssetExecutionContext, warehouse: WarehouseResource, dataset_npis: SqlFrame | None):
    """Skipped (with the NPI steps after it) when no dataset NPIs are stored yet, e.g. a weekly bundle on a new
    install. ``dataset_npis`` is a query over the stored NPIs (nothing read); it runs in the warehouse."""
    if dataset_npis is None:
        context.log.info("resolution/dataset_npis is not stored yet (it never ran): nothing to re-resolve")
        return
    with warehouse.get_connection() as conn:
        # Current while the dataset's (ten-digit) NPIs and the applied NPPES bundles are the same.
        (npis_digest,) = conn.execute(
            f"SELECT md5(coalesce(string_agg(npi, ',' ORDER BY npi), '')) FROM ({dataset_npis.sql}) WHERE ten_digits"
        ).fetchone()
        applied = conn.execute("SELECT * FROM nppes_applied_bundles ORDER BY ALL").fetchall()
    source = hashlib.sha256(repr((npis_digest, applied)).encode()).hexdigest()
    yield dg.Output(SqlFrame(_bulk_rows_sql(dataset_npis), source=source))

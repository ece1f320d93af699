"""ResDAC Medicare assets: raw tables per file, the beneficiary model, admissions with their audit, QC, PostgreSQL.

Every table is written in place in the warehouse schema ``resdac_medicare`` (decision 0001: bulk SQL tables), each
in one transaction, so a failed step leaves the previous tables.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from medicaid_assets.dagster_kit.charts import category_counts_png, image_metadata
from medicaid_assets.dagster_kit.metadata import OWNERS, table_metadata
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.resdac_medicare import model, qc
from medicaid_assets.defs.resdac_medicare.keys import (
    ADMISSIONS,
    AUDIT,
    BENEFICIARIES,
    ENROLLMENTS,
    GROUP,
    POSTGRES,
    QC_ADMISSIONS,
    QC_ENROLLMENTS,
    RAW,
    SCHEMA,
    TABLES,
    partitions,
)
from medicaid_assets.defs.resdac_medicare.raw import (
    LOADS_TABLE,
    ensure_loads_table,
    find_deliveries,
    is_loaded,
    load_delivery,
)
from medicaid_assets.defs.resdac_medicare.resources import ResdacDeliveryResource, ResdacPostgresResource

TAGS = {"source": "resdac"}


def _table_result(
    conn: Any, table: str, extra: dict[str, Any] | None = None, descriptions: dict[str, str] | None = None
) -> dict[str, Any]:
    """Row count, column schema (with ``descriptions``) and a preview of ``resdac_medicare.<table>``."""
    columns = dict(
        conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
            [SCHEMA, table],
        ).fetchall()
    )
    rows = conn.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchone()[0]
    shown = [c for c in columns if columns[c] != "BLOB"][:12]
    preview = conn.execute(f"SELECT {', '.join(shown)} FROM {SCHEMA}.{table} LIMIT 10").fetchall()
    metadata = table_metadata(rows, columns, shown, preview, descriptions)
    return {**metadata, "table": f"{SCHEMA}.{table}", **(extra or {})}


def _table_spec(key: dg.AssetKey, deps: list[dg.AssetKey], description: str) -> dg.AssetSpec:
    """A warehouse table of the family, built by one of its multi-assets."""
    return dg.AssetSpec(
        key, deps=deps, group_name=GROUP, kinds={"duckdb"}, owners=OWNERS, tags=TAGS, description=description
    )


@dg.asset(
    key=RAW,
    partitions_def=partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name=GROUP,
    kinds={"duckdb", "polars"},
    owners=OWNERS,
    tags=TAGS,
    description=(
        "One DuckDB table per delivered file (`resdac_medicare.raw_<file>`): fixed-width `.dat` parts sliced by "
        "their FTS, SAS files for early years; each row with `source_file` and `record_number`, and uniform "
        "`bene_id`, `state`, `zip`, `year`. A file already loaded is skipped, a changed one replaced."
    ),
)
def resdac_raw(
    context: dg.AssetExecutionContext,
    resdac_delivery: ResdacDeliveryResource,
    data: DataDirResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Load the deliveries of the run's family × year partitions; an FTS that disagrees with its data refuses."""
    wanted = set()
    for key in context.partition_keys:
        dims = partitions.get_partition_key_from_str(key).keys_by_dimension
        wanted.add((dims["family"], int(dims["year"])))
    deliveries = [d for d in find_deliveries(resdac_delivery.path) if (d.family, d.year) in wanted]
    loaded, skipped = [], []
    Path(warehouse.database).parent.mkdir(parents=True, exist_ok=True)  # a fresh data dir: the first writer here
    with warehouse.get_connection() as conn:
        ensure_loads_table(conn, SCHEMA)
        for delivery in deliveries:
            if is_loaded(conn, SCHEMA, delivery):
                skipped.append(delivery.table)
                continue
            rows = load_delivery(conn, SCHEMA, delivery, data.layout.resdac_staging)
            loaded.append(delivery.table)
            context.log.info(f"{delivery.table}: {rows:,} rows from {', '.join(p.name for p in delivery.files)}")
        tables = [d.table for d in deliveries]
        rows = conn.execute(
            f"SELECT coalesce(sum(rows), 0) FROM {SCHEMA}.{LOADS_TABLE} WHERE list_contains(?, table_name)", [tables]
        ).fetchone()[0]
        loads = conn.execute(
            f"SELECT table_name, family, year, kind, rows, loaded_at FROM {SCHEMA}.{LOADS_TABLE} ORDER BY family, year"
        )
        columns = [d[0] for d in loads.description]
        preview = loads.fetchall()
    context.log.info(f"{len(loaded)} table(s) loaded, {len(skipped)} already current, in {len(wanted)} partition(s)")
    return dg.MaterializeResult(
        metadata={
            **table_metadata(
                int(rows),
                {"source_file": "VARCHAR", "record_number": "BIGINT", "bene_id": "VARCHAR", "state": "VARCHAR",
                 "zip": "VARCHAR", "year": "INTEGER"},
                columns,
                preview,
            ),
            "tables_loaded": len(loaded),
            "tables_already_current": len(skipped),
            "input_dir": dg.MetadataValue.path(str(resdac_delivery.path)),
        }
    )  # fmt: skip


@dg.multi_asset(
    specs=[
        _table_spec(
            BENEFICIARIES,
            [RAW],
            "One row per `bene_id` over every summary file: earliest DOB, latest DOD, race/sex lists "
            "where years disagree, `duplicates`, `dob_latest`, `dod_earliest`.",
        ),
        _table_spec(
            ENROLLMENTS,
            [RAW],
            "One row per beneficiary × year × state: latest address values and their lists, "
            "`state_count`, `died`, `hmo_cvg_count`, `fips3_is_approximated`, `fips3_validated`.",
        ),
    ],
    pool="duckdb",
)
def resdac_beneficiaries(warehouse: WarehouseResource):
    """The federated patient-summary view (``ps``), then the two tables built from it."""
    with warehouse.get_connection() as conn:
        ensure_loads_table(conn, SCHEMA)
        conn.execute("BEGIN TRANSACTION")
        model.create_reference(conn, SCHEMA)
        federated = model.patient_summary_view(conn, SCHEMA)
        model.build_beneficiaries(conn, SCHEMA)
        model.build_enrollments(conn, SCHEMA)
        conn.execute("COMMIT")
        disagreements = conn.execute(
            f"SELECT count(*) FILTER (WHERE dob_latest IS NOT NULL), count(*) FILTER (WHERE sex LIKE '%,%'), "
            f"count(*) FILTER (WHERE race LIKE '%,%') FROM {SCHEMA}.beneficiaries"
        ).fetchone()
        yield dg.MaterializeResult(
            asset_key=BENEFICIARIES,
            metadata=_table_result(
                conn,
                "beneficiaries",
                {
                    "summary_tables_federated": federated,
                    "dob_disagreements": disagreements[0],
                    "sex_disagreements": disagreements[1],
                    "race_disagreements": disagreements[2],
                },
                model.BENEFICIARY_COLUMNS,
            ),
        )
        per_year = conn.execute(
            f"SELECT year, count(*) FROM {SCHEMA}.enrollments GROUP BY year ORDER BY year"
        ).fetchall()
        yield dg.MaterializeResult(
            asset_key=ENROLLMENTS,
            metadata=_table_result(
                conn,
                "enrollments",
                {
                    "enrollments_per_year": image_metadata(
                        category_counts_png({"enrollments": {str(y): n for y, n in per_year}}, "Enrollments per year"),
                        "enrollments per year",
                    )
                },
            ),
        )


@dg.multi_asset(
    specs=[
        _table_spec(
            ADMISSIONS,
            [RAW, ENROLLMENTS],
            "Inpatient admissions that passed validation (keys present, beneficiary enrolled that "
            "year, first of its duplicates), dates conditioned, diagnoses as an array. Its picture, `outcomes`: "
            "admissions by validation outcome.",
        ),
        _table_spec(
            AUDIT,
            [RAW, ENROLLMENTS],
            "Admissions that failed validation, each with its `reason`: PRIMARY KEY, FOREIGN KEY or "
            "DUPLICATE. With `admissions`, every input admission is in exactly one of the two.",
        ),
    ],
    pool="duckdb",
)
def resdac_admissions(warehouse: WarehouseResource):
    """The federated admissions view (``adm``), split into the table and its audit in one transaction."""
    with warehouse.get_connection() as conn:
        ensure_loads_table(conn, SCHEMA)
        conn.execute("BEGIN TRANSACTION")
        model.create_reference(conn, SCHEMA)
        federated = model.admissions_view(conn, SCHEMA)
        counts = model.build_admissions(conn, SCHEMA)
        conn.execute("COMMIT")
        chart = image_metadata(
            category_counts_png({"admissions": {"ok": counts["OK"], **{r: counts[r] for r in model.AUDIT_REASONS}}},
                                "Admissions by validation outcome"),
            "admissions by validation outcome",
        )  # fmt: skip
        yield dg.MaterializeResult(
            asset_key=ADMISSIONS,
            metadata=_table_result(conn, "admissions", {"admission_tables_federated": federated, "outcomes": chart}),
        )
        yield dg.MaterializeResult(
            asset_key=AUDIT,
            metadata=_table_result(
                conn,
                "admissions_audit",
                {f"reason_{r.lower().replace(' ', '_')}": counts[r] for r in model.AUDIT_REASONS},
            ),
        )


def _qc_metadata(conn: Any, table: str, detail: str) -> dict[str, Any]:
    """The QC table, its per-year rollup from sketches beside the exact recount, and a chart of it."""
    rolled = qc.rollup(conn, SCHEMA, table, ["year"])
    exact = qc.exact_distinct(conn, SCHEMA, detail, ["year"])
    lines = ["| year | records | distinct (HLL) | exact | error |", "|---|---|---|---|---|"]
    for (year,), r in rolled.items():
        truth = exact.get((year,), 0)
        error = (r["estimate"] - truth) / truth if truth else 0.0
        lines.append(f"| {year} | {r['records']:,} | {r['estimate']:,.0f} | {truth:,} | {error:+.2%} |")
    chart = category_counts_png(
        {"distinct beneficiaries (HLL union)": {str(y): round(r["estimate"]) for (y,), r in rolled.items()}},
        f"{table}: distinct beneficiaries per year, from the sketches",
    )
    return _table_result(
        conn,
        table,
        {
            "rollup_by_year": dg.MetadataValue.md("\n".join(lines)),
            "distinct_per_year": image_metadata(chart, "distinct beneficiaries per year"),
        },
    )


def _qc_asset(
    key: dg.AssetKey,
    deps: list[dg.AssetKey],
    build: Callable[[Any, str], int],
    table: str,
    detail: str,
    description: str,
) -> dg.AssetsDefinition:
    """A QC table built by ``build`` (``qc.build_qc_*``), shown beside the exact recount of ``detail``."""

    @dg.asset(
        key=key,
        deps=deps,
        pool="duckdb",
        group_name=GROUP,
        kinds={"duckdb"},
        owners=OWNERS,
        tags=TAGS,
        description=description,
    )
    def _qc(warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.get_connection() as conn:
            build(conn, SCHEMA)
            return dg.MaterializeResult(metadata=_qc_metadata(conn, table, detail))

    return _qc


resdac_qc_enrollments = _qc_asset(
    QC_ENROLLMENTS,
    [BENEFICIARIES, ENROLLMENTS],
    qc.build_qc_enrollments,
    "qc_enrollments",
    "enrollments",
    "Enrollment QC: records and distinct beneficiaries (serialized DataSketches HLL, `bene_hll`) per "
    "year, state, zip, fips3, consistency of DOB/DOD/sex/race, fips3 flags; rollups union the sketches.",
)
resdac_qc_admissions = _qc_asset(
    QC_ADMISSIONS,
    [ADMISSIONS, AUDIT],
    qc.build_qc_admissions,
    "qc_admissions",
    "admissions",
    "Admissions QC over admissions and their audit: records and distinct beneficiaries (HLL sketch) "
    "per year, state, zip and reason ('OK' or the audit reason).",
)


@dg.asset(
    key=POSTGRES,
    deps=[BENEFICIARIES, ENROLLMENTS, ADMISSIONS, AUDIT, QC_ENROLLMENTS, QC_ADMISSIONS],
    pool="duckdb",
    group_name=GROUP,
    kinds={"postgres"},
    owners=OWNERS,
    tags=TAGS,
    output_required=False,
    description="The family's tables copied to PostgreSQL (schema `resdac_medicare`) when "
    "`MEDICAID_RESDAC_POSTGRES_URL` is set, then `SELECT` granted to `MEDICAID_RESDAC_READ_ROLE`; "
    "not materialized when no target is configured.",
)
def resdac_postgres_export(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, resdac_postgres: ResdacPostgresResource
):
    """Each table replaced in one PostgreSQL transaction (readers see the old or the new table), then the grant."""
    if not resdac_postgres.configured:
        context.log.info("no PostgreSQL target configured (MEDICAID_RESDAC_POSTGRES_URL): DuckDB only")
        return
    role = resdac_postgres.grant_role()
    copied = {}
    with warehouse.get_connection() as conn, resdac_postgres.attached(conn) as pg:
        conn.execute(f"CALL postgres_execute('{pg}', 'CREATE SCHEMA IF NOT EXISTS {SCHEMA}')")
        for table in TABLES:
            conn.execute("BEGIN TRANSACTION")
            conn.execute(f"DROP TABLE IF EXISTS {pg}.{SCHEMA}.{table}")
            conn.execute(f"CREATE TABLE {pg}.{SCHEMA}.{table} AS SELECT * FROM {SCHEMA}.{table}")
            conn.execute("COMMIT")
            copied[table] = conn.execute(f"SELECT count(*) FROM {pg}.{SCHEMA}.{table}").fetchone()[0]
        if role:
            conn.execute(
                f"CALL postgres_execute('{pg}', 'GRANT USAGE ON SCHEMA {SCHEMA} TO {role}; "
                f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {role}')"
            )
    context.log.info(f"copied {len(copied)} tables to PostgreSQL; SELECT granted to {role or 'nobody'}")
    yield dg.MaterializeResult(
        metadata={
            **table_metadata(
                sum(copied.values()), {t: "table" for t in copied}, ["table", "rows"], list(copied.items())
            ),
            "read_role": role or "",
        }
    )

"""The dbt models (dimensions, facts, marts) as Dagster assets, built by ``dbt build``; dbt tests are asset checks.

Each run passes dbt the warehouse file and the landed folder (``--vars``). After dbt finishes, every built model
gets the platform's metadata (row count, column schema, a preview; a chart for each mart) from the warehouse.
A run whose inputs are those of the last successful build (landed files, the project, the NPPES table) skips dbt
and records nothing: a warm re-run costs a few queries, not a dbt start.
"""

import json
import shutil
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from medicaid_assets.core.stamps import Stamp, files_identity
from medicaid_assets.dagster_kit.metadata import table_metadata
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.reference.nppes.keys import PROVIDER_TABLE
from medicaid_assets.defs.synthetic_medicare.charts import mart_chart
from medicaid_assets.defs.synthetic_medicare.keys import SCHEMA
from medicaid_assets.defs.synthetic_medicare.models import SyntheticMedicareTranslator, prepared_project, project_digest

PROJECT = prepared_project()
TRANSLATOR = SyntheticMedicareTranslator()


def _nppes_state(conn: Any) -> list[Any] | None:
    """Rows and newest source of the shared NPPES table, when present (dim_provider joins it)."""
    present = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?", [PROVIDER_TABLE]
    ).fetchone()[0]
    if not present:
        return None
    return list(conn.execute(f"SELECT count(*), max(source_date)::VARCHAR FROM main.{PROVIDER_TABLE}").fetchone())


def _model_metadata(conn: Any, name: str, declared: dg.TableSchema | None) -> dict[str, Any]:
    """Row count, column schema (with the descriptions of the model's yml, ``declared``), preview and chart."""
    table = f"{SCHEMA}.{name}"
    exists = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [SCHEMA, name]
    ).fetchone()[0]
    if not exists:
        return {}
    rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    columns = {n: t for n, t, *_ in conn.execute(f"DESCRIBE {table}").fetchall()}
    preview = conn.execute(f"SELECT * FROM {table} LIMIT 10")
    names = [d[0] for d in preview.description]
    described = {c.name: c.description for c in declared.columns if c.description} if declared else {}
    metadata = table_metadata(rows, columns, names, preview.fetchall(), described)
    return {**metadata, "table": table, **mart_chart(conn, name)}


@dbt_assets(
    manifest=PROJECT.manifest_path,
    project=PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="synthetic_medicare_dbt",
    pool="duckdb",
)
def synthetic_medicare_models(
    context: dg.AssetExecutionContext,
    synthetic_medicare_dbt: DbtCliResource,
    data: DataDirResource,
    warehouse: WarehouseResource,
) -> Iterator[Any]:
    """``dbt build`` of the selected models (and their tests) into the family's schema of the warehouse."""
    layout = data.layout
    landed_files = sorted(layout.synthetic_medicare_landed.glob("*/year=*/*.parquet"))
    with warehouse.get_connection() as conn:
        nppes = _nppes_state(conn)
    built_from = {
        "landed": files_identity(landed_files),
        "project": project_digest(),
        "nppes": nppes,
        "warehouse": warehouse.database,
        "selection": sorted(k.to_user_string() for k in context.selected_asset_keys),
        "checks": sorted(k.to_user_string() for k in context.selected_asset_check_keys),
    }
    stamp = Stamp.in_folder(layout.synthetic_medicare_dbt, "last_build")
    if stamp.current(built_from) is not None:
        # Nothing recorded: the models' last materializations (and their checks) still describe the tables.
        context.log.info("dbt build skipped: landed files, project and NPPES table unchanged since the last build")
        return
    stamp.clear()
    dbt_vars = {"landed_dir": str(layout.synthetic_medicare_landed), "warehouse_path": warehouse.database}
    # dbt's artifacts and log for this run go to the data directory (not the package), removed once it succeeds.
    target = layout.synthetic_medicare_dbt / "runs" / context.run_id
    invocation = synthetic_medicare_dbt.cli(
        ["build", "--vars", json.dumps(dbt_vars)], context=context, raise_on_error=False, target_path=target
    )
    events = list(invocation.stream())
    with warehouse.get_connection() as conn:
        for event in events:
            if isinstance(event, dg.Output):
                key = context.assets_def.keys_by_output_name[event.output_name]
                declared = context.assets_def.metadata_by_key[key].get("dagster/column_schema")
                extra = _model_metadata(conn, key.path[-1].removeprefix("synthetic_medicare_"), declared)
                yield event.with_metadata({**event.metadata, **extra})
            else:
                yield event
    error = invocation.get_error()
    if error is not None:  # after the events: failed tests are recorded as failed checks first
        raise dg.Failure(description=f"dbt build failed (failed models and checks are on this run): {error}")
    stamp.record(built_from)
    shutil.rmtree(target, ignore_errors=True)

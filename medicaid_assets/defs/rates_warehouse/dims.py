"""Dimensions from the reference data: codes (with procedure set and class) and providers with their addresses.

``dim_code`` reads the shared CPT/HCPCS fallback (code_sets); ``dim_npi`` and ``dim_npi_address`` are SQL over the
NPPES provider table narrowed to the NPIs the rates name (every stored price-transparency file's providers), as the
original does, evaluated in the warehouse by the IO manager (the rows never enter Python).
"""

import dagster as dg
import duckdb
import polars as pl

from medicaid_assets.dagster_kit.io_managers import PREVIEW_COLUMNS, SUMMARY_SQL, SqlFrame
from medicaid_assets.dagster_kit.metadata import OWNERS, markdown_table
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.defs.price_transparency import keys as pt
from medicaid_assets.defs.rates_warehouse.code_groups import code_type, procedure_group
from medicaid_assets.defs.rates_warehouse.keys import DIM_CODE, DIM_NPI, DIM_NPI_ADDRESS, GROUP
from medicaid_assets.defs.reference.code_sets.keys import FALLBACK
from medicaid_assets.defs.reference.nppes.keys import PROVIDER_TABLE, PROVIDERS

TAGS = {"family": "rates_warehouse", "layer": "dimension"}
EVERY_FILE = {"allow_missing_partitions": True}  # the providers of every price-transparency file stored so far


def npi_sql(npis: str) -> str:
    """One row per NPPES provider whose NPI is in the FROM item ``npis`` (a column ``npi``)."""
    return f"""
        SELECT npi,
               CASE entity_type WHEN '1' THEN 'individual' WHEN '2' THEN 'organization' END AS enumeration_type,
               organization_name, first_name, last_name, credential, sex,
               coalesce(list_filter(taxonomies, t -> t.is_primary)[1].code, taxonomies[1].code) AS primary_taxonomy,
               enumeration_date, last_update_date,
               CASE WHEN deactivation_date IS NOT NULL AND (reactivation_date IS NULL
                         OR reactivation_date < deactivation_date) THEN 'deactivated' ELSE 'active' END AS status
        FROM {PROVIDER_TABLE} WHERE npi IN (SELECT npi FROM {npis}) ORDER BY npi
    """


def npi_address_sql(npis: str) -> str:
    """The mailing and practice-location address of each NPPES provider whose NPI is in ``npis``."""
    return (
        " UNION ALL ".join(
            f"""SELECT npi, '{purpose}' AS address_purpose, {p}_address_line1 AS address_1,
                   {p}_address_line2 AS address_2, {p}_city AS city, {p}_state AS state, {p}_postal_code AS postal_code,
                   coalesce({p}_country, 'US') AS country_code, {p}_phone AS telephone
            FROM {PROVIDER_TABLE} WHERE npi IN (SELECT npi FROM {npis})"""
            for purpose, p in (("MAILING", "mailing"), ("LOCATION", "location"))
        )
        + " ORDER BY npi, address_purpose"
    )


def nppes_loaded(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse holds the NPPES provider table (a fresh install may not have loaded it yet)."""
    query = "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?"
    return conn.execute(query, [PROVIDER_TABLE]).fetchone()[0] > 0


@dg.asset(
    key=DIM_CODE,
    deps=[FALLBACK],
    group_name=GROUP,
    kinds={"polars"},
    owners=OWNERS,
    tags=TAGS,
    pool="duckdb",
    description="One row per CPT/HCPCS code of the shared code set: code type, descriptions, and its procedure set "
    "and class (CPT sections and subsections by code range; HCPCS Level II letter families).",
)
def dim_code(context: dg.AssetExecutionContext, data: DataDirResource) -> pl.DataFrame:
    path = data.layout.cpt_fallback
    if not path.is_file():
        raise dg.Failure(f"no code set at {path}; materialize {FALLBACK.to_user_string()} first")
    codes = pl.read_csv(path, infer_schema=False, columns=["hcpcs_code", "short_desc", "long_desc"])
    groups = [procedure_group(c) for c in codes["hcpcs_code"]]
    frame = pl.DataFrame(
        {
            "code_type": [code_type(c) for c in codes["hcpcs_code"]],
            "code": codes["hcpcs_code"],
            "code_description": codes["short_desc"],
            "code_description_long": codes["long_desc"],
            "procedure_set": [g[0] for g in groups],
            "procedure_class": [g[1] for g in groups],
        }
    ).sort("code_type", "code")
    per_set = frame.group_by("procedure_set").len().sort("len", descending=True)
    context.add_output_metadata(
        {
            "preview": dg.MetadataValue.md(markdown_table(frame.columns, frame.head(10).rows())),
            "codes_per_procedure_set": dg.MetadataValue.md(markdown_table(per_set.columns, per_set.rows(), 30)),
        }
    )
    return frame


@dg.asset(
    key=DIM_NPI,
    ins={"rate_providers": dg.AssetIn(pt.PROVIDERS, metadata=EVERY_FILE)},
    deps=[PROVIDERS],
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags=TAGS,
    pool="duckdb",
    metadata={PREVIEW_COLUMNS: 6, SUMMARY_SQL: "SELECT count(*) FILTER (WHERE status = 'active') AS active FROM value"},
    description="One row per NPI the rates name (members of the price-transparency files' provider groups) that the "
    "NPPES provider table knows: type, name, credential, primary taxonomy, dates and whether it is active (SQL "
    "evaluated in the warehouse).",
)
def dim_npi(context: dg.AssetExecutionContext, rate_providers: SqlFrame) -> SqlFrame:
    return SqlFrame(npi_sql(_rate_npis(context, rate_providers)))


@dg.asset(
    key=DIM_NPI_ADDRESS,
    ins={"rate_providers": dg.AssetIn(pt.PROVIDERS, metadata=EVERY_FILE)},
    deps=[PROVIDERS],
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags=TAGS,
    pool="duckdb",
    metadata={PREVIEW_COLUMNS: 7},
    description="Two rows per NPI of dim_npi: its mailing and its practice-location address from the NPPES provider "
    "table (country `US` where NPPES leaves it blank).",
)
def dim_npi_address(context: dg.AssetExecutionContext, rate_providers: SqlFrame) -> SqlFrame:
    return SqlFrame(npi_address_sql(_rate_npis(context, rate_providers)))


def _rate_npis(context: dg.AssetExecutionContext, rate_providers: SqlFrame) -> str:
    """The FROM item of the NPIs the rates name; before any price-transparency file is read, none (an empty
    dimension, not an error: the reference data can be built first)."""
    if not context.instance.get_materialized_partitions(pt.PROVIDERS):
        context.log.info("no price-transparency file read yet: the provider dimensions are empty")
        return "(SELECT NULL::VARCHAR AS npi WHERE false)"
    return f"({rate_providers.sql})"

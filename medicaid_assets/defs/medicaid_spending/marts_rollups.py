"""Rollups, the Medicaid-to-Medicare fee index and provider screening, all over ``marts/spending_enriched``.

Values stored by the IO manager (schema ``medicaid_spending``): the rollups and the screening table are SqlFrames run
where the enriched table is (the warehouse); the fee index joins the newest PFS release's state amounts to it.
"""

import dagster as dg
import pyarrow as pa

from medicaid_assets.dagster_kit.charts import image_metadata, labelled_values_png
from medicaid_assets.dagster_kit.io_managers import PREVIEW_COLUMNS, SqlFrame
from medicaid_assets.dagster_kit.metadata import OWNERS
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.medicaid_spending.keys import (
    CODE_TOTALS,
    FEE_INDEX,
    MARTS_GROUP,
    MARTS_SCHEMA,
    PROVIDER_TOTALS,
    SCREENING,
    SPENDING_ENRICHED,
    SPENDING_ENRICHED_TABLE,
    STATE_MONTH_KIND,
)
from medicaid_assets.defs.medicaid_spending.marts_sql import (
    CODE_TOTALS_SQL,
    MIN_CLAIMS,
    MIN_PEERS,
    PROVIDER_TOTALS_SQL,
    SCREENING_METRICS,
    STATE_MONTH_KIND_SQL,
    Z_FLAG,
    fee_index_table,
    screening_sql,
)
from medicaid_assets.defs.reference.fee_schedules.keys import PFS_STATE_AMOUNTS

TAGS = {"mart": "medicaid"}
STORED = {"schema": MARTS_SCHEMA}


def schema(columns: dict[str, tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(n, t, description=d) for n, (t, d) in columns.items()])


TOTALS = {
    "rows": ("BIGINT", "spending rows"),
    "claims": ("BIGINT", "sum of TOTAL_CLAIMS"),
    "beneficiaries": ("BIGINT", "sum of TOTAL_UNIQUE_BENEFICIARIES over rows (a person counts once per row)"),
    "paid": ("DOUBLE", "sum of TOTAL_PAID (USD)"),
}
STATE_MONTH_KIND_COLUMNS = {
    "state": ("VARCHAR", "billing provider's practice state (NULL: unknown)"),
    "claim_month": ("DATE", "claim month"),
    "code_kind": ("VARCHAR", "CPT, Level II, CDT, revenue, modifier-suffixed, junk"),
    **TOTALS,
}
PROVIDER_COLUMNS = {
    "billing_npi": ("VARCHAR", "billing NPI (trimmed)"),
    "provider_name": ("VARCHAR", "NPPES name"),
    "entity_type": ("VARCHAR", "individual / organization"),
    "npi_status": ("VARCHAR", "active, deactivated, unknown, invalid"),
    "taxonomy_code": ("VARCHAR", "primary taxonomy"),
    "taxonomy_classification": ("VARCHAR", "NUCC classification"),
    "state": ("VARCHAR", "practice state"),
    **TOTALS,
    "paid_per_claim": ("DOUBLE", "paid / claims"),
    "paid_per_beneficiary": ("DOUBLE", "paid / beneficiaries"),
    "months_active": ("BIGINT", "distinct months billed"),
    "distinct_codes": ("BIGINT", "distinct codes billed"),
    "first_month": ("DATE", "first month billed"),
    "last_month": ("DATE", "last month billed"),
}
CODE_COLUMNS = {
    "hcpcs_code": ("VARCHAR", "code (trimmed)"),
    "state": ("VARCHAR", "billing state, US for the national row, ?? when unknown"),
    "description": ("VARCHAR", "resolved description"),
    "code_kind": ("VARCHAR", "shape of the code"),
    **TOTALS,
    "paid_per_claim": ("DOUBLE", "paid / claims"),
    "billing_providers": ("BIGINT", "distinct billing NPIs"),
}
FEE_INDEX_COLUMNS = {
    "hcpcs_code": ("VARCHAR", "code priced by the Medicare PFS (global service, no modifier)"),
    "state": ("VARCHAR", "billing provider's state"),
    "year": ("BIGINT", "claim year"),
    "rows": ("BIGINT", "spending rows"),
    "claims": ("BIGINT", "Medicaid claims"),
    "paid": ("DOUBLE", "Medicaid paid (USD)"),
    "medicaid_paid_per_claim": ("DOUBLE", "paid / claims"),
    "medicare_non_facility": ("DOUBLE", "PFS non-facility amount, state locality average"),
    "medicare_facility": ("DOUBLE", "PFS facility amount, state locality average"),
    "index_non_facility": ("DOUBLE", "Medicaid paid per claim / Medicare non-facility amount"),
    "index_facility": ("DOUBLE", "Medicaid paid per claim / Medicare facility amount"),
    "pfs_release": ("VARCHAR", "PFS release the Medicare amounts come from"),
}
SCREENING_COLUMNS = {
    "rank": ("BIGINT", "1 = most unusual"),
    "billing_npi": ("VARCHAR", "billing NPI"),
    "provider_name": ("VARCHAR", "NPPES name"),
    "taxonomy_code": ("VARCHAR", "primary taxonomy"),
    "state": ("VARCHAR", "practice state"),
    "peer_group": ("VARCHAR", "taxonomy in state, else taxonomy nationally, else all providers"),
    "peer_group_size": ("BIGINT", "providers scored in the peer group"),
    "claims": ("BIGINT", "claims"),
    "beneficiaries": ("BIGINT", "beneficiaries (summed over rows)"),
    "paid": ("DOUBLE", "paid (USD)"),
    **{m: ("DOUBLE", m.replace("_", " ")) for m in SCREENING_METRICS},
    **{f"z_{m}": ("DOUBLE", f"robust z-score of {m.replace('_', ' ')} in the peer group") for m in SCREENING_METRICS},
    "score": ("DOUBLE", "largest |z| of the provider"),
    "reasons": ("VARCHAR[]", f"metrics with |z| >= {Z_FLAG}, largest first"),
    "flagged": ("BOOLEAN", "at least one reason"),
}


def _sql_asset(key: dg.AssetKey, columns: dict, description: str, sql: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=key,
        deps=[SPENDING_ENRICHED],
        pool="duckdb",
        group_name=MARTS_GROUP,
        kinds={"duckdb", "parquet"},
        owners=OWNERS,
        tags=TAGS,
        metadata={**STORED, PREVIEW_COLUMNS: min(len(columns), 10), "dagster/column_schema": schema(columns)},
        description=description,
    )
    def _asset() -> SqlFrame:
        return SqlFrame(sql)

    return _asset


spending_by_state_month_kind = _sql_asset(
    STATE_MONTH_KIND,
    STATE_MONTH_KIND_COLUMNS,
    "Spending per billing state x month x code kind: rows, claims, beneficiaries (summed over rows) and paid.",
    STATE_MONTH_KIND_SQL.format(table=SPENDING_ENRICHED_TABLE),
)
spending_by_provider = _sql_asset(
    PROVIDER_TOTALS,
    PROVIDER_COLUMNS,
    "One row per billing NPI: who it is (NPPES, NUCC), totals, paid per claim and per beneficiary, months active "
    "and distinct codes billed.",
    PROVIDER_TOTALS_SQL.format(table=SPENDING_ENRICHED_TABLE),
)
spending_by_code = _sql_asset(
    CODE_TOTALS,
    CODE_COLUMNS,
    "One row per code and billing state, plus a national row per code (state US): totals, paid per claim, billing "
    "providers.",
    CODE_TOTALS_SQL.format(table=SPENDING_ENRICHED_TABLE),
)
provider_screening = _sql_asset(
    SCREENING,
    SCREENING_COLUMNS,
    "SCREENING SIGNALS, NOT FINDINGS: a ranked table of active billing providers (at least "
    f"{MIN_CLAIMS} claims) whose paid per beneficiary, claims per beneficiary, paid per claim, share of high-level "
    "office E/M visits (99204/99205/99214/99215 among 99202-99215) or year-over-year paid growth sits far from their "
    "peers. Peers are the same primary taxonomy in the same state (the taxonomy nationally, then all providers, when "
    f"fewer than {MIN_PEERS}); the robust z-score is 0.6745 x (value - peer median) / peer MAD. Reasons list every "
    f"metric with |z| >= {Z_FLAG}. Unusual is not improper: case mix, billing arrangements (a group billing for many "
    "clinicians), data suppression and coding differences all produce high scores.",
    screening_sql(SPENDING_ENRICHED_TABLE),
)


@dg.asset(
    key=FEE_INDEX,
    deps=[SPENDING_ENRICHED],
    # The newest release only: a fee index compares with one fee schedule.
    ins={"pfs_state_amounts": dg.AssetIn(PFS_STATE_AMOUNTS, partition_mapping=dg.LastPartitionMapping())},
    pool="duckdb",
    group_name=MARTS_GROUP,
    kinds={"duckdb", "parquet"},
    owners=OWNERS,
    tags=TAGS,
    metadata={**STORED, PREVIEW_COLUMNS: 11, "dagster/column_schema": schema(FEE_INDEX_COLUMNS)},
    description=(
        "Medicaid-to-Medicare fee index per code x state x year: Medicaid paid per claim (sum of TOTAL_PAID / sum of "
        "TOTAL_CLAIMS of the rows billed from that state) / the Medicare physician fee schedule amount in that state "
        "(the unweighted mean of its localities, newest PFS release, global service without modifier), non-facility "
        "and facility. Limits: the spending file counts claims, not service lines or units, so multi-unit services "
        "inflate paid per claim; modifiers (26/TC, 53) are not separated in the Medicaid data; rows under 12 claims are "
        "suppressed at the source; one fee schedule release is applied to every year (no inflation adjustment); "
        "Medicaid's facility/non-facility setting is unknown, so both indexes are given. Pictures, `chart_<code>`: the "
        "index by state of each of the most-claimed codes."
    ),
)
def medicaid_medicare_fee_index(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, pfs_state_amounts: pa.Table
) -> dg.Output[pa.Table]:
    with warehouse.get_connection() as conn:
        table = fee_index_table(conn, SPENDING_ENRICHED_TABLE, pfs_state_amounts)
    rows = table.to_pylist()
    charts = {}
    if rows:
        last_year = max(r["year"] for r in rows)
        claims: dict[str, int] = {}
        for r in rows:
            claims[r["hcpcs_code"]] = claims.get(r["hcpcs_code"], 0) + r["claims"]
        for code in sorted(claims, key=claims.get, reverse=True)[:3]:
            by_state = {
                r["state"]: r["index_non_facility"]
                for r in rows
                if r["hcpcs_code"] == code and r["year"] == last_year and r["index_non_facility"] is not None
            }
            png = labelled_values_png(
                dict(sorted(by_state.items())), f"{code}: Medicaid / Medicare non-facility, {last_year}", money=False
            )
            charts[f"chart_{code}"] = image_metadata(png, f"fee index of {code} by state")
    context.log.info(f"fee index: {len(rows):,} code x state x year rows")
    return dg.Output(table, metadata=charts)

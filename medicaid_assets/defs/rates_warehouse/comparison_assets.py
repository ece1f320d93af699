"""The ``code_price_comparison`` mart (SQL in comparison.py), evaluated in the warehouse where Medicaid spending is."""

import dagster as dg
import pyarrow as pa

from medicaid_assets.dagster_kit.charts import amounts_by_group_png, image_metadata
from medicaid_assets.dagster_kit.io_managers import ALLOW_MISSING, PREVIEW_COLUMNS, SqlFrame
from medicaid_assets.dagster_kit.metadata import OWNERS
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.medicaid_spending.keys import SPENDING_ENRICHED, SPENDING_ENRICHED_TABLE
from medicaid_assets.defs.rates_warehouse import star
from medicaid_assets.defs.rates_warehouse.comparison import NO_MEDICAID, comparison_sql, medicaid_sql
from medicaid_assets.defs.rates_warehouse.keys import (
    BENCH_MEDICARE_PROFESSIONAL,
    BENCH_WC,
    CODE_PRICE_COMPARISON,
    FACT_RATE,
    GROUP,
    WC_BENCH_STATES,
)

OPTIONAL = {ALLOW_MISSING: True}
CHART_CODES = 3  # the chart shows the codes with the most rates and claims, four sources each (12 boxes)
SOURCES = {"Medicaid": "medicaid_paid_per_claim", "commercial": "commercial_median", "Medicare": "medicare_amount",
           "WC max": "wc_max"}  # fmt: skip


def _chart(table: pa.Table) -> dg.MetadataValue:
    rows = table.to_pylist()
    codes = list(dict.fromkeys(r["code"] for r in rows))[:CHART_CODES]
    values = {
        f"{code} {label}": [r[column] for r in rows if r["code"] == code and r[column] is not None]
        for code in codes
        for label, column in SOURCES.items()
    }
    title = "one price, four payers: amount across states and years for the top codes"
    return image_metadata(amounts_by_group_png(values, title), title)


@dg.asset(
    key=CODE_PRICE_COMPARISON,
    ins={
        "fact_rate": dg.AssetIn(FACT_RATE, metadata={"allow_missing_partitions": True}),
        "professional": dg.AssetIn(BENCH_MEDICARE_PROFESSIONAL, metadata=OPTIONAL),
        **{f"wc_{state.lower()}": dg.AssetIn(BENCH_WC[state], metadata=OPTIONAL) for state in WC_BENCH_STATES},
    },
    deps=[SPENDING_ENRICHED],
    group_name=GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    tags={"family": "rates_warehouse", "layer": "mart"},
    pool="duckdb",
    metadata={PREVIEW_COLUMNS: 12},
    description="One price, four payers: per code × state × year, Medicaid paid per claim (T-MSIS provider "
    "spending), commercial negotiated rates (median, 10th/90th percentile, min/max across payers and provider "
    "groups; global service, positive `negotiated` rates only), the Medicare PFS amount (state average, "
    "non-facility) and the state's workers'-comp maximum (professional) where it has one — each with its count and "
    "source, and the ratios to Medicare. A chart compares the four for the top codes.",
)
def code_price_comparison(
    warehouse: WarehouseResource,
    fact_rate: SqlFrame,
    professional: SqlFrame | None,
    wc_ca: SqlFrame | None,
    wc_ga: SqlFrame | None,
    wc_nc: SqlFrame | None,
) -> dg.Output[pa.Table]:
    with warehouse.get_connection() as conn:
        schema, name = SPENDING_ENRICHED_TABLE.split(".")
        (has_medicaid,) = conn.execute(
            "SELECT count(*) > 0 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchone()
        sql = comparison_sql(
            star.source(fact_rate.sql),
            medicaid_sql(SPENDING_ENRICHED_TABLE) if has_medicaid else NO_MEDICAID,
            star.source(professional.sql) if professional is not None else None,
            [star.source(w.sql) for w in (wc_ca, wc_ga, wc_nc) if w is not None],
        )
        table = conn.execute(sql).to_arrow_table()
    counted = {label: sum(1 for v in table.column(col).to_pylist() if v is not None) for label, col in SOURCES.items()}
    return dg.Output(
        table,
        metadata={
            "rows_with": dg.MetadataValue.json(counted),
            "medicaid_spending": "found" if has_medicaid else "not built: Medicaid columns are empty",
            "chart": _chart(table),
        },
    )

"""The family's jobs: the benchmarks (then their Iceberg tables), the dimensions that need no rates, and the star
schema over the price-transparency files."""

import dagster as dg

from medicaid_assets.defs.rates_warehouse.keys import (
    BENCH_MEDICARE_ASC,
    BENCH_MEDICARE_OPPS,
    BENCH_MEDICARE_PROFESSIONAL,
    BENCH_WC,
    CODE_PRICE_COMPARISON,
    DIM_CODE,
    DIM_NPI,
    DIM_NPI_ADDRESS,
    DIM_PAYER,
    DIM_POS_SET,
    DIM_PROVIDER_GROUP,
    FACT_RATE,
    FACT_RATE_ENRICHED,
    ICEBERG_DIMENSIONS,
    ICEBERG_FACT_RATE,
    ICEBERG_STAR,
    ICEBERG_TABLES,
    XREF_PG_MEMBER_NPI,
    XREF_PG_MEMBER_TIN,
)
from medicaid_assets.defs.reference.fee_schedules import keys as fee_schedules

rates_warehouse_job = dg.define_asset_job(
    "rates_warehouse_job",
    # The multiplier states' maximums are unpartitioned and read every stored OPPS release, like the benchmarks.
    selection=dg.AssetSelection.assets(
        fee_schedules.WC_MULTIPLIER_MAXIMUMS,
        BENCH_MEDICARE_OPPS,
        BENCH_MEDICARE_ASC,
        *BENCH_WC.values(),
        ICEBERG_TABLES,
    ),
    description="Build the Medicare OPPS/ASC and workers'-comp benchmarks from the fee schedules stored so far "
    "(and the maximums of states that set them as multiples of Medicare), then write them as Iceberg tables.",
)
rates_dimensions_job = dg.define_asset_job(
    "rates_dimensions_job",
    selection=dg.AssetSelection.assets(DIM_CODE, DIM_NPI, DIM_NPI_ADDRESS, ICEBERG_DIMENSIONS),
    description="Build dim_code from the shared code set and dim_npi / dim_npi_address from the NPPES provider table, "
    "then write them as Iceberg tables.",
)
fact_rate_job = dg.define_asset_job(
    "fact_rate_job",
    selection=dg.AssetSelection.assets(FACT_RATE, FACT_RATE_ENRICHED, ICEBERG_FACT_RATE),
    description="Build fact_rate, its tiles (fact_rate_enriched) and its Iceberg partition for one "
    "price-transparency file partition (payer × file): exactly its rows and files are replaced.",
)
rates_star_job = dg.define_asset_job(
    "rates_star_job",
    selection=dg.AssetSelection.assets(
        BENCH_MEDICARE_PROFESSIONAL,
        DIM_PAYER,
        DIM_POS_SET,
        DIM_PROVIDER_GROUP,
        XREF_PG_MEMBER_NPI,
        XREF_PG_MEMBER_TIN,
        ICEBERG_STAR,
    ),
    description="Build the professional benchmark from the newest PFS release and the star schema's dimensions and "
    "cross-references from every price-transparency file stored so far, then write them as Iceberg tables.",
)
code_price_comparison_job = dg.define_asset_job(
    "code_price_comparison_job",
    selection=dg.AssetSelection.assets(CODE_PRICE_COMPARISON),
    description="Build the one-price-four-payers mart from every fact_rate partition, the benchmarks and Medicaid "
    "spending stored so far.",
)

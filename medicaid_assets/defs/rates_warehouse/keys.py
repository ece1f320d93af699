"""What other families may use of the rates warehouse: asset keys, group, table names."""

import dagster as dg

GROUP = "rates_warehouse"
BENCH_MEDICARE_OPPS = dg.AssetKey(["rates_warehouse", "bench_medicare_opps"])
BENCH_MEDICARE_ASC = dg.AssetKey(["rates_warehouse", "bench_medicare_asc"])
WC_BENCH_STATES = ("CA", "GA", "NC")  # CA: a multiple of Medicare; GA, NC: their own tables
BENCH_WC = {state: dg.AssetKey(["rates_warehouse", f"bench_wc_{state.lower()}"]) for state in WC_BENCH_STATES}
ICEBERG_TABLES = dg.AssetKey(["rates_warehouse", "iceberg_tables"])
DIM_CODE = dg.AssetKey(["rates_warehouse", "dim_code"])
DIM_NPI = dg.AssetKey(["rates_warehouse", "dim_npi"])
DIM_NPI_ADDRESS = dg.AssetKey(["rates_warehouse", "dim_npi_address"])

# Iceberg table names (namespace `rates_warehouse`): the original's names, so its SQL runs unchanged.
ICEBERG_BENCH_OPPS = "bench_medicare_opps"
ICEBERG_BENCH_ASC = "bench_medicare_asc"
ICEBERG_BENCH_WC = "bench_wc"  # every state's workers'-comp maximums, partitioned by state
ICEBERG_DIMENSIONS = dg.AssetKey(["rates_warehouse", "iceberg_dimensions"])  # dim_code, dim_npi, dim_npi_address

# ---- Phase 2: the professional benchmark and the star schema built from the price-transparency tables ----------
BENCH_MEDICARE_PROFESSIONAL = dg.AssetKey(["rates_warehouse", "bench_medicare_professional"])
FACT_RATE = dg.AssetKey(["rates_warehouse", "fact_rate"])  # partitioned like price_transparency/rates (per file)
DIM_PAYER = dg.AssetKey(["rates_warehouse", "dim_payer"])
DIM_POS_SET = dg.AssetKey(["rates_warehouse", "dim_pos_set"])
DIM_PROVIDER_GROUP = dg.AssetKey(["rates_warehouse", "dim_provider_group"])
XREF_PG_MEMBER_NPI = dg.AssetKey(["rates_warehouse", "xref_pg_member_npi"])
XREF_PG_MEMBER_TIN = dg.AssetKey(["rates_warehouse", "xref_pg_member_tin"])
FACT_RATE_ENRICHED = dg.AssetKey(["rates_warehouse", "fact_rate_enriched"])  # the tiles, per file partition
CODE_PRICE_COMPARISON = dg.AssetKey(["rates_warehouse", "code_price_comparison"])  # one price, four payers
# The star schema in Iceberg: the professional benchmark, dimensions and cross-references (tables of the same names),
# and fact_rate (partitioned by file_key, one partition replaced per price-transparency file).
ICEBERG_STAR = dg.AssetKey(["rates_warehouse", "iceberg_star"])
ICEBERG_FACT_RATE = dg.AssetKey(["rates_warehouse", "iceberg_fact_rate"])

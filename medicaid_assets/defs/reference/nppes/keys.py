"""What other families may use of NPPES: asset keys, table names, the weekly partitions. Nothing else is public."""

import dagster as dg

GROUP = "nppes"
MONTHLY_BUNDLE = dg.AssetKey(["raw", "nppes_monthly_bundle"])
WEEKLY_BUNDLE = dg.AssetKey(["raw", "nppes_weekly_bundle"])
PROVIDERS = dg.AssetKey(["warehouse", "nppes_providers"])
WEEKLY_UPDATE = dg.AssetKey(["warehouse", "nppes_weekly_update"])

# Warehouse tables (schema main): one row per NPI, and the side tables keyed by ``npi``.
PROVIDER_TABLE = "nppes_providers"
OTHER_NAMES_TABLE = "nppes_other_names"
PRACTICE_LOCATIONS_TABLE = "nppes_practice_locations"
ENDPOINTS_TABLE = "nppes_endpoints"
# One row per bundle applied to the provider tables (bundle_key, kind, source_file = the npidata CSV, source_date, …).
APPLIED_BUNDLES_TABLE = "nppes_applied_bundles"

nppes_weekly_partitions = dg.DynamicPartitionsDefinition(name="nppes_weekly")

"""What other families may use of the fee schedules: asset keys, partitions, column names."""

import dagster as dg

# ---- OPPS / ASC / workers' comp (rates-warehouse issue; the PFS section is kept by its own issue) ------------------
GROUP = "fee_schedules"

OPPS_ADDENDA = dg.AssetKey(["raw", "opps_addenda"])  # the release's Addendum A and B zips
ASC_ADDENDA = dg.AssetKey(["raw", "asc_addenda"])  # the release's ASC addenda zip
WC_FILES = dg.AssetKey(["raw", "wc_fee_schedules"])  # a state's published schedule file
OPPS_APC_RATES = dg.AssetKey(["fee_schedules", "opps_apc_rates"])  # Addendum A: APC -> SI, weight, payment rate
OPPS_HCPCS_RATES = dg.AssetKey(["fee_schedules", "opps_hcpcs_rates"])  # Addendum B: HCPCS -> SI, APC, weight, rate
ASC_RATES = dg.AssetKey(["fee_schedules", "asc_rates"])  # Addendum AA: HCPCS -> payment indicator, weight, rate
WC_MAXIMUMS = dg.AssetKey(["fee_schedules", "wc_maximums"])  # one row per state x code x modifier x setting
# States whose maximums are multiples of Medicare (CA): the same columns, computed from the newest OPPS release.
WC_MULTIPLIER_MAXIMUMS = dg.AssetKey(["fee_schedules", "wc_multiplier_maximums"])

# Each quarterly release is a partition (key ``2025Q1``), added by the family's sensors from the CMS pages.
opps_releases = dg.DynamicPartitionsDefinition(name="opps_releases")
asc_releases = dg.DynamicPartitionsDefinition(name="asc_releases")
# One partition per state whose schedule is a table of its own (each has a handler in workers_comp/).
wc_states = dg.StaticPartitionsDefinition(["GA", "NC"])
RELEASE_COLUMN = "release"  # every OPPS/ASC row carries its release key
STATE_COLUMN = "state"  # every workers'-comp row carries its state

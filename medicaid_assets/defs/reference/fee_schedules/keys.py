"""What other families may use of the fee schedules: asset keys, group, partitions, table columns."""

import dagster as dg

GROUP = "fee_schedules"
RELEASE_COLUMN = "release"  # every fee-schedule row carries its release (partition) key

# ---- Physician fee schedule (PFS) ------------------------------------------------------------------------------
PFS_RELEASE = dg.AssetKey(["raw", "pfs_release"])
PFS_RVUS = dg.AssetKey(["fee_schedules", "pfs_rvus"])
PFS_LOCALITIES = dg.AssetKey(["fee_schedules", "pfs_localities"])
PFS_AMOUNTS = dg.AssetKey(["fee_schedules", "pfs_amounts"])
PFS_STATE_AMOUNTS = dg.AssetKey(["fee_schedules", "pfs_state_amounts"])

# One partition per quarterly release, keyed ``<year>Q<n>`` (RVU25D -> 2025Q4); a correction (RVU25AR) replaces
# its quarter's release. Every PFS table carries the key in its ``release`` column.
pfs_release_partitions = dg.DynamicPartitionsDefinition(name="pfs_releases")

# Statuses whose RVUs Medicare pays (RVU file documentation, Attachment A); pfs_amounts holds only these.
PFS_PAID_STATUSES = ("A", "R", "T")
# A row of pfs_state_amounts whose ``state`` is this is the national amount (RVUs x CF, every GPCI 1.0).
PFS_NATIONAL = "US"

# ---- OPPS, ASC and workers' comp (the rates warehouse benchmarks them) ----------------------------------------------
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
STATE_COLUMN = "state"  # every workers'-comp row carries its state

"""What other families may use of the fee schedules: asset keys, group, partitions, table columns."""

import dagster as dg

# ---- Physician fee schedule (PFS) ------------------------------------------------------------------------------
PFS_GROUP = "fee_schedules"
PFS_RELEASE = dg.AssetKey(["raw", "pfs_release"])
PFS_RVUS = dg.AssetKey(["fee_schedules", "pfs_rvus"])
PFS_LOCALITIES = dg.AssetKey(["fee_schedules", "pfs_localities"])
PFS_AMOUNTS = dg.AssetKey(["fee_schedules", "pfs_amounts"])
PFS_STATE_AMOUNTS = dg.AssetKey(["fee_schedules", "pfs_state_amounts"])

# One partition per quarterly release, keyed ``<year>Q<n>`` (RVU25D -> 2025Q4); a correction (RVU25AR) replaces
# its quarter's release. Every PFS table carries the key in its ``release`` column.
pfs_release_partitions = dg.DynamicPartitionsDefinition(name="pfs_releases")
PFS_RELEASE_COLUMN = "release"

# Statuses whose RVUs Medicare pays (RVU file documentation, Attachment A); pfs_amounts holds only these.
PFS_PAID_STATUSES = ("A", "R", "T")
# A row of pfs_state_amounts whose ``state`` is this is the national amount (RVUs x CF, every GPCI 1.0).
PFS_NATIONAL = "US"

"""Checks that can be re-run alone against the warehouse: keys unique, admissions accounted for, sketches honest."""

import dagster as dg

from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.resdac_medicare import model, qc
from medicaid_assets.defs.resdac_medicare.keys import ADMISSIONS, BENEFICIARIES, ENROLLMENTS, QC_ENROLLMENTS, SCHEMA


@dg.asset_check(
    asset=ADMISSIONS,
    blocking=True,
    description="Every row of the federated admissions view is in exactly one of `admissions` and "
    "`admissions_audit` (none lost, none in both).",
)
def admissions_counts_add_up(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as conn:
        passed, counts = model.counts_add_up(conn, SCHEMA)
        reasons = dict(
            conn.execute(f"SELECT reason, count(*) FROM {SCHEMA}.admissions_audit GROUP BY reason").fetchall()
        )
    return dg.AssetCheckResult(passed=passed, metadata={**counts, **{f"audit_{k}": v for k, v in reasons.items()}})


@dg.asset_check(
    asset=ENROLLMENTS,
    blocking=True,
    description="(bene_id, year, state) is unique in `enrollments`, its primary key.",
)
def enrollments_key_unique(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as conn:
        repeated = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {SCHEMA}.enrollments GROUP BY bene_id, year, state "
            "HAVING count(*) > 1)"
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=repeated == 0, metadata={"repeated_keys": repeated})


@dg.asset_check(
    asset=BENEFICIARIES,
    blocking=True,
    description="`bene_id` is unique in `beneficiaries` and never null.",
)
def beneficiaries_key_unique(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as conn:
        rows, distinct = conn.execute(
            f"SELECT count(*), count(DISTINCT bene_id) FROM {SCHEMA}.beneficiaries"
        ).fetchone()
    return dg.AssetCheckResult(passed=rows == distinct, metadata={"rows": rows, "distinct_bene_ids": distinct})


@dg.asset_check(
    asset=QC_ENROLLMENTS,
    description="Per year, the union of the QC sketches lies within its 3-standard-deviation bounds of the exact "
    "distinct count of beneficiaries (warns otherwise).",
)
def qc_sketches_within_bounds(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as conn:
        rolled = qc.rollup(conn, SCHEMA, "qc_enrollments", ["year"], deviations=3)
        exact = qc.exact_distinct(conn, SCHEMA, "enrollments", ["year"])
    outside = {str(k[0]): exact.get(k, 0) for k, r in rolled.items() if not r["lower"] <= exact.get(k, 0) <= r["upper"]}
    return dg.AssetCheckResult(
        passed=not outside,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"years_checked": len(rolled), "years_outside_bounds": dg.MetadataValue.json(outside)},
    )

"""Checks of the landing, read from its stamps (no parquet is read), so each re-runs alone in a moment."""

import dagster as dg

from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.defs.synthetic_medicare.keys import FILE_TYPES, LANDED, YEARS
from medicaid_assets.defs.synthetic_medicare.raw import landed_rows

YEARS_OUTSIDE_WARN_SHARE = 0.01


@dg.asset_check(
    asset=LANDED,
    blocking=True,
    description="Every file type of the release is landed with rows (an empty type would empty the models).",
)
def rows_landed(data: DataDirResource) -> dg.AssetCheckResult:
    rows = landed_rows(data.layout)
    empty = [t for t in FILE_TYPES if not sum(rows.get(t, {}).values())]
    return dg.AssetCheckResult(
        passed=not empty,
        metadata={"empty_or_missing_types": ", ".join(empty), "rows": sum(sum(v.values()) for v in rows.values())},
    )


@dg.asset_check(
    asset=LANDED,
    description="Share of landed rows whose year falls outside the release's 2015–2025 (warns above 1%).",
)
def years_in_release(data: DataDirResource) -> dg.AssetCheckResult:
    rows = landed_rows(data.layout)
    total = sum(sum(v.values()) for v in rows.values())
    outside = sum(n for v in rows.values() for year, n in v.items() if year not in YEARS)
    return dg.AssetCheckResult(
        passed=outside <= YEARS_OUTSIDE_WARN_SHARE * max(total, 1),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows_outside_2015_2025": outside, "rows": total},
    )

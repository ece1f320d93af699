"""Checks of the benchmarks: golden rows equal their hand-computed values; no negative or absurd amounts (warn)."""

import dagster as dg
import polars as pl

from medicaid_assets.defs.rates_warehouse.keys import BENCH_MEDICARE_ASC, BENCH_MEDICARE_OPPS, BENCH_WC

# (release, code) -> national amount, read off CMS's files by hand: Addendum B January 2025 (27447 APC 5115,
# G0463 APC 5012, 99285 APC 5025) and Addendum AA January 2026 ("$135.54 ", "$1,644.87 ").
GOLDEN_OPPS = {("2025Q1", "27447"): 12866.82, ("2025Q1", "G0463"): 128.87, ("2025Q1", "99285"): 613.10}
GOLDEN_ASC = {("2026Q1", "0101T"): 135.54, ("2026Q1", "0102T"): 1644.87}
# California's hospital-outpatient maximum for 27447 = 1.22 x 12,866.82 = 15,697.5204 -> $15,697.52; its ASC
# maximum = 0.8 x 1.22 x 12,866.82 = 12,558.0163 -> $12,558.02.
GOLDEN_WC_CA = {("27447", "opps"): 15697.52, ("27447", "asc"): 12558.02}
ABSURD = 1_000_000.0  # no single service's maximum comes near a million dollars


def _golden(frame: pl.DataFrame, amount: str, golden: dict[tuple[str, str], float]) -> dg.AssetCheckResult:
    us = frame.filter(pl.col("state") == "US")
    found = {(r, c): a for r, c, a in us.select("release", "code", amount).rows() if (r, c) in golden}
    wrong = {
        f"{r} {c}": [found[(r, c)], want]
        for (r, c), want in golden.items()
        if (r, c) in found and round(found[(r, c)], 2) != want
    }
    return dg.AssetCheckResult(
        passed=not wrong,
        metadata={"compared": len(found), "wrong": dg.MetadataValue.json(wrong),
                  "note": "" if found else "the stored release holds none of the golden rows"},
    )  # fmt: skip


@dg.asset_check(asset=BENCH_MEDICARE_OPPS, description="Golden OPPS rows equal CMS's Addendum B amounts read by hand.")
def opps_golden_rows(bench_medicare_opps: pl.DataFrame) -> dg.AssetCheckResult:
    return _golden(bench_medicare_opps, "medicare_opps_national", GOLDEN_OPPS)


@dg.asset_check(asset=BENCH_MEDICARE_ASC, description="Golden ASC rows equal CMS's Addendum AA amounts read by hand.")
def asc_golden_rows(bench_medicare_asc: pl.DataFrame) -> dg.AssetCheckResult:
    return _golden(bench_medicare_asc, "medicare_asc_national", GOLDEN_ASC)


@dg.asset_check(asset=BENCH_WC["CA"], description="California's maximums for 27447 equal 1.22x / 0.976x Medicare OPPS.")
def wc_ca_golden_rows(bench_wc_ca: pl.DataFrame) -> dg.AssetCheckResult:
    found = {(c, s): a for c, s, a in bench_wc_ca.select("code", "setting", "wc_max").rows() if (c, s) in GOLDEN_WC_CA}
    wrong = {f"{c} {s}": [found[(c, s)], want] for (c, s), want in GOLDEN_WC_CA.items() if found.get((c, s)) != want}
    return dg.AssetCheckResult(passed=not wrong, metadata={"wrong_or_missing": dg.MetadataValue.json(wrong)})


def _sane(frame: pl.DataFrame, column: str) -> dg.AssetCheckResult:
    bad = frame.filter((pl.col(column) < 0) | (pl.col(column) > ABSURD))
    return dg.AssetCheckResult(
        passed=bad.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"bad_rows": bad.height, "examples": dg.MetadataValue.json(bad.head(5).to_dicts())},
    )


SANE = "No negative amount and none above $1,000,000 (warn: a parsing slip shows here, not as a crash)."


@dg.asset_check(asset=BENCH_MEDICARE_OPPS, name="amounts_sane", description=SANE)
def opps_amounts_sane(bench_medicare_opps: pl.DataFrame) -> dg.AssetCheckResult:
    return _sane(bench_medicare_opps, "medicare_opps_national")


@dg.asset_check(asset=BENCH_MEDICARE_ASC, name="amounts_sane", description=SANE)
def asc_amounts_sane(bench_medicare_asc: pl.DataFrame) -> dg.AssetCheckResult:
    return _sane(bench_medicare_asc, "medicare_asc_national")


@dg.asset_check(asset=BENCH_WC["CA"], name="amounts_sane", description=SANE)
def wc_ca_amounts_sane(bench_wc_ca: pl.DataFrame) -> dg.AssetCheckResult:
    return _sane(bench_wc_ca, "wc_max")


@dg.asset_check(asset=BENCH_WC["GA"], name="amounts_sane", description=SANE)
def wc_ga_amounts_sane(bench_wc_ga: pl.DataFrame) -> dg.AssetCheckResult:
    return _sane(bench_wc_ga, "wc_max")


@dg.asset_check(asset=BENCH_WC["NC"], name="amounts_sane", description=SANE)
def wc_nc_amounts_sane(bench_wc_nc: pl.DataFrame) -> dg.AssetCheckResult:
    return _sane(bench_wc_nc, "wc_max")

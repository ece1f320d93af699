"""Benchmarks from the fee schedules (pure polars, no Dagster): Medicare OPPS and ASC, state workers'-comp maximums.

Medicare amounts are national: the newest release's Addendum B / AA payment rate per code. The original tool keeps a
row per state (its example query joins ``bench_medicare_asc`` on ``state``), so every state gets the national amount
as ``medicare_*_stateavg`` with ``wage_adjusted = false``. CMS's wage adjustment is public (OPPS: 60 % of the rate is
labor-related and scaled by the hospital's CBSA wage index; ASC: 50 %), but it needs the CBSA wage-index file and a
state's mix of CBSAs, which this project does not load yet; until it does, the state rows say they are unadjusted.
"""

from __future__ import annotations

import polars as pl

# 50 states, DC and four territories CMS pays in (the original's 54-state benchmark tables).
STATES = ("AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "GU", "HI", "IA", "ID", "IL", "IN", "KS",
          "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV", "NY",
          "OH", "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VI", "VT", "WA", "WI", "WV",
          "WY")  # fmt: skip
NATIONAL = "US"


def code_type(code: pl.Expr) -> pl.Expr:
    """``CPT`` for Level I codes (they start with a digit), ``HCPCS`` for Level II (a letter)."""
    return pl.when(code.str.slice(0, 1).str.contains(r"\d")).then(pl.lit("CPT")).otherwise(pl.lit("HCPCS"))


def newest_paid(rates: pl.DataFrame) -> pl.DataFrame:
    """Rows of the newest release present that carry a positive payment rate."""
    if rates.is_empty():
        return rates
    newest = rates["release"].max()
    return rates.filter((pl.col("release") == newest) & (pl.col("payment_rate") > 0))


def _per_state(national: pl.DataFrame, amount: str) -> pl.DataFrame:
    states = pl.DataFrame({"state": [NATIONAL, *STATES]})
    return (
        states.join(national, how="cross")
        .with_columns(pl.col(f"{amount}_national").alias(f"{amount}_stateavg"), pl.lit(False).alias("wage_adjusted"))
        .sort("state", "code")
    )


OPPS_CARRIED = ("status_indicator", "apc", "relative_weight")  # Addendum B columns the OPPS benchmark keeps
ASC_CARRIED = ("payment_indicator", "payment_weight")  # Addendum AA columns the ASC benchmark keeps


def bench_medicare(addendum: pl.DataFrame, setting: str, carried: tuple[str, ...]) -> pl.DataFrame:
    """One row per state (and ``US``) × code: the national payment rate of ``setting`` (``opps`` or ``asc``) as
    ``medicare_<setting>_national`` and ``_stateavg``, with the addendum's ``carried`` columns."""
    amount = f"medicare_{setting}"
    national = newest_paid(addendum).select(
        code_type(pl.col("hcpcs")).alias("code_type"),
        pl.col("hcpcs").alias("code"),
        *carried,
        pl.col("payment_rate").alias(f"{amount}_national"),
        "release",
    )
    return _per_state(national, amount).select(
        "state", "code_type", "code", *carried, f"{amount}_national", f"{amount}_stateavg", "wage_adjusted", "release"
    )


def bench_medicare_opps(addendum_b: pl.DataFrame) -> pl.DataFrame:
    """The OPPS benchmark from Addendum B: national payment rate, SI, APC and relative weight."""
    return bench_medicare(addendum_b, "opps", OPPS_CARRIED)


def bench_medicare_asc(addendum_aa: pl.DataFrame) -> pl.DataFrame:
    """The ASC benchmark from Addendum AA: national payment rate, payment indicator and weight."""
    return bench_medicare(addendum_aa, "asc", ASC_CARRIED)


def bench_wc(maximums: pl.DataFrame, state: str) -> pl.DataFrame:
    """A state's maximums as benchmarks: rows with an amount (or anesthesia base units) only."""
    kept = maximums.filter(
        (pl.col("state") == state) & (pl.col("max_amount").is_not_null() | pl.col("base_units").is_not_null())
    )
    return kept.select(
        "state",
        code_type(pl.col("code")).alias("code_type"),
        "code",
        "modifier",
        "setting",
        pl.col("max_amount").alias("wc_max"),
        "base_units",
        "basis",
        pl.col("schedule_year").cast(pl.Int32),
        "description",
    ).sort("code", "modifier", "setting")

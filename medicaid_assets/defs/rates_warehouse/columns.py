"""What each benchmark column means, as the UI's column schemas show it (types as the warehouse stores them)."""

import dagster as dg

from medicaid_assets.dagster_kit.metadata import column_schema

_COLUMNS = {
    "state": ("VARCHAR", "two-letter state; US for the national row"),
    "code_type": ("VARCHAR", "CPT for Level I codes (start with a digit), HCPCS for Level II (a letter)"),
    "code": ("VARCHAR", "CPT / HCPCS code"),
    "modifier": ("VARCHAR", "modifier the maximum applies to; empty for the code alone"),
    "setting": ("VARCHAR", "professional, professional_nonfacility, professional_facility, opps, asc or anesthesia"),
    "wc_max": ("DOUBLE", "the state's workers'-comp maximum (USD); null when the code is priced in base units"),
    "base_units": ("DOUBLE", "anesthesia base units, where the schedule gives them"),
    "basis": ("VARCHAR", "fee_schedule (the state's own amount) or medicare_multiplier (a multiple of Medicare)"),
    "schedule_year": ("INTEGER", "year of the state's schedule (from the file name; null when it names none)"),
    "description": ("VARCHAR", "the code's description in the state's schedule"),
    "status_indicator": ("VARCHAR", "OPPS status indicator (Addendum B)"),
    "apc": ("VARCHAR", "ambulatory payment classification"),
    "relative_weight": ("DOUBLE", "the APC's relative weight"),
    "medicare_opps_national": ("DOUBLE", "OPPS national payment rate (USD), newest release"),
    "medicare_opps_stateavg": ("DOUBLE", "the state's amount: the national rate until wage adjustment is loaded"),
    "payment_indicator": ("VARCHAR", "ASC payment indicator (Addendum AA)"),
    "payment_weight": ("DOUBLE", "ASC payment weight"),
    "medicare_asc_national": ("DOUBLE", "ASC national payment rate (USD), newest release"),
    "medicare_asc_stateavg": ("DOUBLE", "the state's amount: the national rate until wage adjustment is loaded"),
    "wage_adjusted": ("BOOLEAN", "false: state rows repeat the national amount (no CBSA wage index loaded yet)"),
    "release": ("VARCHAR", "fee schedule release the amounts come from"),
}
OPPS = ("state", "code_type", "code", "status_indicator", "apc", "relative_weight", "medicare_opps_national",
        "medicare_opps_stateavg", "wage_adjusted", "release")  # fmt: skip
ASC = ("state", "code_type", "code", "payment_indicator", "payment_weight", "medicare_asc_national",
       "medicare_asc_stateavg", "wage_adjusted", "release")  # fmt: skip
WC = ("state", "code_type", "code", "modifier", "setting", "wc_max", "base_units", "basis", "schedule_year",
      "description")  # fmt: skip


def schema(names: tuple[str, ...]) -> dg.TableSchema:
    """The column schema of a benchmark with columns ``names`` (the order of :mod:`benchmarks`)."""
    return column_schema({n: _COLUMNS[n][0] for n in names}, {n: _COLUMNS[n][1] for n in names})

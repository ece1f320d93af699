"""OPPS Addendum A and B, one partition per quarterly release: the zips as CMS posts them, then one table each."""

import re

import dagster as dg

from medicaid_assets.defs.reference.fee_schedules.keys import (
    OPPS_ADDENDA,
    OPPS_APC_RATES,
    OPPS_HCPCS_RATES,
    opps_releases,
)
from medicaid_assets.defs.reference.fee_schedules.opps_asc_common import ReleaseSource
from medicaid_assets.defs.reference.fee_schedules.opps_parse import ADDENDUM_A, ADDENDUM_B, parse_addendum

KINDS = {"addendum_a": re.compile(r"addendum[\s_-]*a\b", re.I), "addendum_b": re.compile(r"addendum[\s_-]*b\b", re.I)}
OPPS = ReleaseSource("opps", OPPS_ADDENDA, opps_releases, "opps_addenda_url", KINDS)

opps_addenda = OPPS.raw_asset(
    "The quarterly OPPS Addendum A and Addendum B zips of one release (partition `2025Q1` …), as linked "
    "from the CMS addenda page, in raw/fee_schedules/opps/<release>/ (written in place: raw downloads)."
)
opps_apc_rates = OPPS.rates_asset(
    OPPS_APC_RATES,
    "addendum_a",
    ADDENDUM_A,
    lambda text, label, _release: parse_addendum(text, ADDENDUM_A, label),
    "OPPS Addendum A of one release: per APC its status indicator, relative weight, national payment "
    "rate and copayments (`$4,146.335` → 4146.335, `.` → null).",
)
opps_hcpcs_rates = OPPS.rates_asset(
    OPPS_HCPCS_RATES,
    "addendum_b",
    ADDENDUM_B,
    lambda text, label, _release: parse_addendum(text, ADDENDUM_B, label),
    "OPPS Addendum B of one release: per HCPCS code its status indicator, APC, relative weight and "
    "national payment rate (null for codes not paid separately).",
)
opps_release_job = dg.define_asset_job(
    "opps_release_job",
    selection=dg.AssetSelection.assets(OPPS_ADDENDA, OPPS_APC_RATES, OPPS_HCPCS_RATES),
    description="Download and parse one OPPS release (Addendum A and B).",
)
opps_release_sensor = OPPS.sensor(opps_release_job.name)

"""ASC Addendum AA, one partition per quarterly release: the zip as CMS posts it, then the rates table."""

import re

import dagster as dg

from medicaid_assets.defs.reference.fee_schedules.asc_parse import ADDENDUM_AA, parse_addendum_aa
from medicaid_assets.defs.reference.fee_schedules.keys import ASC_ADDENDA, ASC_RATES, asc_releases
from medicaid_assets.defs.reference.fee_schedules.opps_asc_cells import release_of
from medicaid_assets.defs.reference.fee_schedules.opps_asc_common import ReleaseSource
from medicaid_assets.defs.reference.fee_schedules.opps_parse import Addendum

KINDS = {"addenda": re.compile(r"\basc\b", re.I)}
ASC = ReleaseSource("asc", ASC_ADDENDA, asc_releases, "asc_addenda_url", KINDS)


def _parse_for_release(text: str, label: str, release: str) -> Addendum:
    """Addendum AA whose header month must be the partition's release."""
    addendum = parse_addendum_aa(text, label)
    if release_of(addendum.month) != release:
        raise dg.Failure(f"{label}: its header names {addendum.month!r}, not release {release}")
    return addendum


asc_addenda = ASC.raw_asset(
    "The quarterly ASC addenda zip of one release (partition `2025Q4` …), as linked from the CMS ASC "
    "payment-rates page, in raw/fee_schedules/asc/<release>/ (written in place: raw downloads)."
)
asc_rates = ASC.rates_asset(
    ASC_RATES,
    "addenda",
    ADDENDUM_AA,
    _parse_for_release,
    "ASC Addendum AA of one release: per HCPCS code its payment indicator, payment weight, national "
    "payment rate and the `**`/`*` marker; the header's month must agree with the partition.",
)
asc_release_job = dg.define_asset_job(
    "asc_release_job",
    selection=dg.AssetSelection.assets(ASC_ADDENDA, ASC_RATES),
    description="Download and parse one ASC release (Addendum AA).",
)
asc_release_sensor = ASC.sensor(asc_release_job.name)

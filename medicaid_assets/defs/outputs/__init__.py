"""Outputs: the mappings, resolved npi/hcpcs datasets, unresolved report and triage users download."""

import dagster as dg

from medicaid_assets.defs.outputs import assets


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=dg.load_assets_from_modules([assets]))

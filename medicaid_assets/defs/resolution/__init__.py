"""Resolution: distinct identifiers from the warehouse, then NPI and HCPCS caches filled from bulk files and APIs."""

import dagster as dg

from medicaid_assets.defs.resolution import identifiers, lookups


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=dg.load_assets_from_modules([identifiers, lookups]))

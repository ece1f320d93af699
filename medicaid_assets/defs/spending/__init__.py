"""The spending family: the downloaded file and its monthly-partitioned warehouse table."""

import dagster as dg

from medicaid_assets.defs.spending import assets


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=dg.load_assets_from_modules([assets]))

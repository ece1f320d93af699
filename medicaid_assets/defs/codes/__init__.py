"""The codes family: CMS CPT/HCPCS archives and the CPT/HCPCS fallback built from them."""

import dagster as dg

from medicaid_assets.defs.codes import assets


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=dg.load_assets_from_modules([assets]))

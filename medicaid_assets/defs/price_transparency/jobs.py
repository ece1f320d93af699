"""Jobs of the price-transparency family: read a payer's ToC, and read in-network files (one partition each)."""

import dagster as dg

from medicaid_assets.defs.price_transparency.keys import (
    FILES,
    ORGANIZATIONS,
    PAYER_QUALITY,
    PAYER_TOC,
    PROVIDERS,
    RATES,
    STRUCTURE,
)

toc_job = dg.define_asset_job(
    "price_transparency_toc",
    selection=dg.AssetSelection.assets(PAYER_TOC),
    description="Fetch one payer's table of contents of a month and add a partition per new in-network file content.",
)
files_job = dg.define_asset_job(
    "price_transparency_files",
    selection=dg.AssetSelection.assets(RATES, ORGANIZATIONS, PROVIDERS, FILES),
    description="Read in-network files (one partition per payer × file) into rates, organizations, providers, files.",
)
quality_job = dg.define_asset_job(
    "price_transparency_quality",
    selection=dg.AssetSelection.assets(PAYER_QUALITY),
    description="Measure each payer's quality over the files read so far (its chart: rate rows by provider resolution).",
)
structure_job = dg.define_asset_job(
    "price_transparency_structure",
    selection=dg.AssetSelection.assets(STRUCTURE),
    description="Analyze one payer's in-network files from their first items: shape and the handler that fits.",
)

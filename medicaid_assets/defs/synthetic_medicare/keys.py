"""What other families may use of the synthetic Medicare release: asset keys, group, partitions, schema, file types."""

import dagster as dg

GROUP = "synthetic_medicare"
SCHEMA = "synthetic_medicare"  # the family's DuckDB schema (dbt writes its models there)

DOWNLOADS = dg.AssetKey(["raw", "synthetic_medicare_downloads"])
LANDED = dg.AssetKey(["raw", "synthetic_medicare_landed"])

BENEFICIARY = "beneficiary"
CLAIM_TYPES = ("carrier", "inpatient", "outpatient", "dme", "hha", "hospice", "snf")
PDE = "pde"
FILE_TYPES = (BENEFICIARY, *CLAIM_TYPES, PDE)
YEARS = tuple(range(2015, 2026))  # the release's beneficiary years; claims and events fall in the same span

# One partition per file type; each writes one parquet per year (``<type>/year=YYYY/``), so dbt reads type × year.
file_type_partitions = dg.StaticPartitionsDefinition(list(FILE_TYPES))


def model_key(name: str) -> dg.AssetKey:
    """The asset key of dbt model ``name``: ``warehouse/…`` for dimensions and facts, ``marts/…`` for marts."""
    return dg.AssetKey(["marts" if name.startswith("mart_") else "warehouse", f"synthetic_medicare_{name}"])

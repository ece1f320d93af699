"""What other families may use of price transparency: asset keys, table names, partitions, the id recipes.

The rates warehouse builds its star schema from the four tables below. Their columns are
``normalize.RATES_SCHEMA`` / ``ORGANIZATIONS_SCHEMA`` / ``PROVIDERS_SCHEMA`` / ``FILES_COLUMNS`` plus ``file_key``
(the partition), documented in the README; ids follow ``ids.py`` (UUIDv5 recipes).
"""

import dagster as dg

GROUP = "price_transparency"
SCHEMA = "price_transparency"  # DuckDB schema / parquet folder of every table below

PAYER_TOC = dg.AssetKey([SCHEMA, "payer_toc"])  # one row per in-network file listed by a payer's ToC
RATES = dg.AssetKey([SCHEMA, "rates"])  # one row per billing code × price × provider group
ORGANIZATIONS = dg.AssetKey([SCHEMA, "organizations"])  # one row per TIN seen in a file
PROVIDERS = dg.AssetKey([SCHEMA, "providers"])  # one row per NPI × provider group seen in a file
FILES = dg.AssetKey([SCHEMA, "files"])  # one row per in-network file read: what, how much, quality, errors
STRUCTURE = dg.AssetKey([SCHEMA, "structure"])  # per payer: the shape of its files and the handler that fits
PAYER_QUALITY = dg.AssetKey([SCHEMA, "payer_quality"])  # per payer: the files' measured quality, summed

RATES_TABLE, ORGANIZATIONS_TABLE, PROVIDERS_TABLE, FILES_TABLE = "rates", "organizations", "providers", "files"
PAYER_TOC_TABLE = "payer_toc"
FILE_KEY = "file_key"  # the column every file-partitioned table is partitioned by
PAYER_KEY = "payer"  # the column the structure table is partitioned by
TOC_KEY = "toc_key"  # the column the ToC table is partitioned by

# dynamic: one per payer × in-network file × published content ("<payer>__<file>-<url hash>-<version hash>")
FILE_PARTITIONS = "price_transparency_files"
file_partitions = dg.DynamicPartitionsDefinition(name=FILE_PARTITIONS)
PAYER_PARTITIONS = "price_transparency_payers"  # dynamic: one per catalog payer (the ToC sensor adds them)
payer_partitions = dg.DynamicPartitionsDefinition(name=PAYER_PARTITIONS)
TOC_PARTITIONS = "price_transparency_tocs"  # dynamic: one per payer × month of its ToC ("<payer>__<YYYY-MM>")
toc_partitions = dg.DynamicPartitionsDefinition(name=TOC_PARTITIONS)


def toc_partition_key(payer: str, month: str) -> str:
    """The ToC partition of ``payer`` for ``month`` (``YYYY-MM``, the month of the ToC's ``last_updated_on``, or
    the month it was fetched when the ToC has no date)."""
    return f"{payer}__{month}"


def split_toc_partition_key(key: str) -> tuple[str, str]:
    payer, _, month = key.rpartition("__")
    return payer, month

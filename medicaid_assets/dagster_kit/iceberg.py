"""Apache Iceberg tables through PyIceberg's SQL catalog, for readers whose engines speak Iceberg.

The catalog is a SQLAlchemy database (SQLite file by default, PostgreSQL to share it between machines); the data and
metadata files go under a warehouse on local disk or an ``s3://`` prefix (AWS or any S3-compatible endpoint). DuckDB
(``iceberg`` extension from its PyPI wheel), Trino, Spark and Athena read the tables. Why a family offers Iceberg
beside the platform's DuckLake: ``docs/decisions/0007-iceberg-for-rates-warehouse.md``.

A write replaces one partition (or the whole table) with PyIceberg's ``overwrite``: one commit, so a reader sees the
old rows or the new ones. PyIceberg retries a commit that lost a race a few times, then raises.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from medicaid_assets.core.values import sql_string
from medicaid_assets.dagster_kit.lake import AWS_KEY_VARS, extension_file, s3_secret_sql
from medicaid_assets.settings import ICEBERG_CATALOG_PASSWORD_VAR, Settings

READ_EXTENSIONS = ("httpfs", "avro", "iceberg")  # iceberg reads manifests with avro, S3 through httpfs


class IcebergResource(dg.ConfigurableResource):
    """An Iceberg SQL catalog and its warehouse; every table lives in one namespace."""

    catalog_uri: str = Field(
        description="SQLAlchemy URL of the catalog: sqlite:////abs/path.db or postgresql+psycopg2://user@host/db"
    )
    warehouse: str = Field(description="local directory or s3://bucket/prefix for data and metadata files")
    namespace: str = Field(default="rates_warehouse", description="Iceberg namespace of the tables")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint; unset = AWS S3")
    s3_region: str | None = Field(default=None, description="region of the bucket")
    catalog_password: str | None = Field(default=None, repr=False, description="secret: give as dg.EnvVar")
    aws_access_key_id: str | None = Field(default=None, repr=False, description="secret: give as dg.EnvVar")
    aws_secret_access_key: str | None = Field(default=None, repr=False, description="secret: give as dg.EnvVar")

    def catalog(self) -> Any:
        """The PyIceberg ``SqlCatalog`` (imported here: PyIceberg costs a second on import)."""
        from pyiceberg.catalog.sql import SqlCatalog
        from sqlalchemy.engine import make_url

        url = make_url(self.catalog_uri)
        if url.password is not None:
            raise ValueError(f"the Iceberg catalog URI must not carry a password; set {ICEBERG_CATALOG_PASSWORD_VAR}")
        if self.catalog_password:
            url = url.set(password=self.catalog_password)
        if url.get_backend_name() == "sqlite" and url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        properties = {"uri": url.render_as_string(hide_password=False), "warehouse": self.warehouse_uri}
        if self.s3_endpoint_url:
            properties["s3.endpoint"] = self.s3_endpoint_url
        if self.s3_region:
            properties["s3.region"] = self.s3_region
        if self.aws_access_key_id and self.aws_secret_access_key:
            properties["s3.access-key-id"] = self.aws_access_key_id
            properties["s3.secret-access-key"] = self.aws_secret_access_key
        catalog = SqlCatalog(self.namespace, **properties)
        catalog.create_namespace_if_not_exists(self.namespace)
        return catalog

    @property
    def warehouse_uri(self) -> str:
        if "://" in self.warehouse:
            return self.warehouse.rstrip("/")
        path = Path(self.warehouse).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path.as_uri()

    def write(
        self, name: str, data: pa.Table | pa.RecordBatchReader, partition_column: str | None = None, value: Any = None
    ) -> dict:
        """:func:`write_partition` into ``<namespace>.<name>``; returns what was written (for metadata)."""
        return write_partition(self.catalog(), f"{self.namespace}.{name}", data, partition_column, value)

    def metadata_location(self, name: str) -> str:
        return self.catalog().load_table(f"{self.namespace}.{name}").metadata_location

    @contextmanager
    def duckdb(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB that can ``iceberg_scan`` this warehouse (extensions from their wheels, no network)."""
        with closing(duckdb.connect()) as conn:
            for name in READ_EXTENSIONS:
                path = extension_file(name)
                if path is None:
                    raise RuntimeError(f"install duckdb-extension-{name}=={duckdb.__version__} to read Iceberg")
                conn.execute(f"LOAD {sql_string(str(path))}")
            if self.warehouse_uri.startswith("s3://"):
                conn.execute(
                    s3_secret_sql(
                        self.warehouse_uri + "/",
                        self.s3_endpoint_url,
                        self.s3_region,
                        self.aws_access_key_id,
                        self.aws_secret_access_key,
                    )
                )
            yield conn

    def scan_sql(self, name: str) -> str:
        """A FROM clause reading the table's current snapshot in DuckDB: ``iceberg_scan('<metadata.json>')``."""
        return f"iceberg_scan({sql_string(_duckdb_path(self.metadata_location(name)))})"


def _duckdb_path(location: str) -> str:
    """DuckDB opens local files by path, not by ``file://`` URI."""
    parts = urlsplit(location)
    return parts.path if parts.scheme == "file" else location


def write_partition(
    catalog: Any,
    identifier: str,
    data: pa.Table | pa.RecordBatchReader,
    partition_column: str | None = None,
    value: Any = None,
) -> dict:
    """Replace the rows of ``identifier`` where ``partition_column == value`` with ``data`` (the whole table when no
    column is given), creating the table (partitioned by that column) on first write and adding new columns.

    ``data`` may be a stream (``pa.RecordBatchReader``): it is written in chunks of ``STREAM_ROWS`` rows inside one
    transaction, so memory holds one chunk and readers still see one commit. Every row must be in the partition, or
    nothing is committed (ValueError).
    """
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.expressions import AlwaysTrue, EqualTo

    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        table = catalog.create_table(identifier, schema=data.schema)
        if partition_column is not None:
            with table.update_spec() as spec:
                spec.add_identity(partition_column)
    with table.update_schema() as update:
        update.union_by_name(data.schema)
    table = catalog.load_table(identifier)
    target = table.schema().as_arrow()
    rows = 0
    with warnings.catch_warnings(), table.transaction() as tx:
        # a first write of a partition deletes nothing, and PyIceberg says so
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        tx.delete(AlwaysTrue() if partition_column is None else EqualTo(partition_column, value))
        for chunk in _chunks(data):
            _check_partition(chunk, partition_column, value, rows)
            tx.append(chunk.cast(target) if chunk.schema != target else chunk)
            rows += len(chunk)
    table = catalog.load_table(identifier)
    snapshot = table.current_snapshot()
    return {
        "table": identifier,
        "rows": rows,
        "partition": None if partition_column is None else f"{partition_column}={value}",
        "snapshot_id": snapshot.snapshot_id if snapshot else None,
        "metadata_location": table.metadata_location,
    }


STREAM_ROWS = 500_000  # rows per appended chunk of a streamed write: ~100 MB of Arrow for a wide fact row


def _chunks(data: pa.Table | pa.RecordBatchReader) -> Iterator[pa.Table]:
    """The table itself, or the stream regrouped into tables of up to ``STREAM_ROWS`` rows."""
    if isinstance(data, pa.Table):
        yield data
        return
    batches: list[pa.RecordBatch] = []
    size = 0
    for batch in data:
        batches.append(batch)
        size += batch.num_rows
        if size >= STREAM_ROWS:
            yield pa.Table.from_batches(batches, data.schema)
            batches, size = [], 0
    if batches:
        yield pa.Table.from_batches(batches, data.schema)


def _check_partition(chunk: pa.Table, column: str | None, value: Any, before: int) -> None:
    if column is None or not len(chunk):
        return
    outside = len(chunk) - (pc.sum(pc.equal(chunk[column], pa.scalar(value))).as_py() or 0)
    if outside:
        raise ValueError(
            f"{outside} of rows {before + 1:,}–{before + len(chunk):,} are not in partition {column}={value!r}; "
            "nothing was committed"
        )


def iceberg_from_settings(settings: Settings) -> IcebergResource:
    """The Iceberg resource: defaults under the data dir (SQLite catalog, local warehouse); secrets as ``dg.EnvVar``."""
    data = settings.data_dir / "iceberg"
    s3 = (settings.iceberg_warehouse or "").startswith("s3://")
    key_id, secret = (dg.EnvVar(var) for var in AWS_KEY_VARS) if s3 else (None, None)
    return IcebergResource(
        catalog_uri=settings.iceberg_catalog_uri or f"sqlite:///{data / 'catalog.db'}",
        warehouse=settings.iceberg_warehouse or str(data / "warehouse"),
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_region=settings.s3_region,
        catalog_password=dg.EnvVar(ICEBERG_CATALOG_PASSWORD_VAR) if settings.iceberg_catalog_password else None,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )

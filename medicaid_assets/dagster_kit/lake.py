"""The scale-out warehouse: DuckLake (catalog in PostgreSQL, data as parquet on S3) through DuckDB.

The embedded DuckDB file (``resources.warehouse``) stays the default. Set ``MEDICAID_WAREHOUSE_CATALOG_URL``
and ``MEDICAID_WAREHOUSE_DATA_URL`` and :func:`lake_warehouse_from_settings` gives a
:class:`LakeWarehouseResource` instead, whose connections several machines' runs may use at once. Why DuckLake
and not Iceberg, with measurements: ``docs/decisions/0002-scale-out-warehouse.md``.

Secrets never enter a connection string, a repr, a log line or metadata: the PostgreSQL password goes into an
unnamed DuckDB ``postgres`` secret (DuckDB shows it as ``redacted``) and the AWS keys into a DuckDB ``s3``
secret; both are temporary (this connection only). Configure them as ``dg.EnvVar`` so Dagster shows names only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import dagster as dg
import duckdb
from duckdb import DuckDBPyConnection
from pydantic import Field
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from medicaid_assets.core.values import sql_string
from medicaid_assets.settings import WAREHOUSE_CATALOG_PASSWORD_VAR, Settings

# Loaded in this order: DuckLake needs httpfs for s3:// data and postgres_scanner for its catalog.
EXTENSIONS = ("httpfs", "postgres_scanner", "ducklake")
AWS_KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def extension_file(name: str) -> Path | None:
    """The extension binary shipped by the ``duckdb-extension-<name>`` wheel for this DuckDB, if any."""
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        return None
    path = Path(str(files(module))) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    return path if path.exists() else None


def load_extensions(conn: DuckDBPyConnection) -> None:
    """LOAD httpfs, postgres_scanner and ducklake from their PyPI wheels (``INSTALL`` needs the internet)."""
    for name in EXTENSIONS:
        path = extension_file(name)
        if path is None:
            raise RuntimeError(
                f"DuckDB extension {name!r} not found for DuckDB {duckdb.__version__}: install the wheel "
                f"duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__} (its version must equal DuckDB's)"
            )
        conn.execute(f"LOAD {sql_string(str(path))}")


def sql_name(name: str) -> str:
    """A possibly qualified identifier (``lake.claims``), each part quoted."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def catalog_params(catalog_url: str) -> str:
    """libpq keywords (no password) for a ``postgresql://user@host:port/dbname?sslmode=...`` URL."""
    url = urlsplit(catalog_url)
    if url.scheme not in ("postgres", "postgresql"):
        raise ValueError("the warehouse catalog URL must be postgresql://user@host:port/dbname")
    if url.password is not None:  # the message does not repeat the URL: it holds the secret
        raise ValueError(
            f"the warehouse catalog URL must not carry a password; set {WAREHOUSE_CATALOG_PASSWORD_VAR} "
            "(or libpq's PGPASSWORD / ~/.pgpass) instead"
        )
    params = {"host": url.hostname, "port": url.port, "user": unquote(url.username or ""), "dbname": url.path[1:]}
    for pair in filter(None, url.query.split("&")):
        key, _, value = pair.partition("=")
        if key.lower() == "password":
            raise ValueError(
                f"the warehouse catalog URL must not carry a password; set {WAREHOUSE_CATALOG_PASSWORD_VAR}"
            )
        params[key] = unquote(value)
    for key, value in params.items():
        if value not in (None, "") and any(c in str(value) for c in " '\\"):
            raise ValueError(f"catalog URL part {key!r} holds a space, quote or backslash")
    return " ".join(f"{key}={value}" for key, value in params.items() if value not in (None, ""))


def s3_secret_sql(
    data_url: str, endpoint_url: str | None, region: str | None, key_id: str | None, secret: str | None
) -> str:
    """CREATE SECRET for the lake's data path (temporary: this connection only)."""
    options = ["TYPE s3", f"SCOPE {sql_string(data_url)}"]
    if key_id and secret:
        options += [f"KEY_ID {sql_string(key_id)}", f"SECRET {sql_string(secret)}"]
    if region:
        options.append(f"REGION {sql_string(region)}")
    if endpoint_url:  # MinIO, Ceph, moto...: path-style URLs on the given host
        endpoint = urlsplit(endpoint_url if "://" in endpoint_url else f"https://{endpoint_url}")
        options += [
            f"ENDPOINT {sql_string(endpoint.netloc)}",
            "URL_STYLE 'path'",
            f"USE_SSL {'false' if endpoint.scheme == 'http' else 'true'}",
        ]
    return f"CREATE OR REPLACE TEMPORARY SECRET lake_data ({', '.join(options)})"


def is_commit_conflict(error: BaseException) -> bool:
    """DuckLake refused a commit because another writer committed a conflicting change first.

    DuckLake checks conflicts per table: a transaction that inserts into a table another one deleted from since it
    began fails at COMMIT, even when the two touched different partitions. Retrying the whole transaction is
    correct (it re-reads the latest snapshot).
    """
    return isinstance(error, duckdb.Error) and "conflict" in str(error).lower()


def replace_partition(
    conn: DuckDBPyConnection,
    table: str,
    column: str,
    value: Any,
    source_sql: str,
    params: Sequence[Any] = (),
    *,
    attempts: int = 8,
    max_wait_seconds: float = 2.0,
    on_conflict: Callable[[BaseException], None] | None = None,
) -> int:
    """Replace the rows of ``table`` whose ``column`` equals ``value`` with the rows of ``source_sql``, atomically.

    One lake transaction deletes the partition and inserts the new rows (by column name), so readers see the old
    rows or the new ones, never neither or both. Commit conflicts with concurrent writers are retried with
    randomized exponential backoff (``attempts`` tries in all). Every source row must belong to the partition,
    else nothing is written and ValueError is raised. ``on_conflict`` is told of each conflict before the retry.
    Returns the number of rows inserted.
    """
    target, col = sql_name(table), sql_name(column)

    def once() -> int:
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(f"DELETE FROM {target} WHERE {col} = ?", [value])
            row = conn.execute(f"INSERT INTO {target} BY NAME SELECT * FROM ({source_sql})", list(params)).fetchone()
            inserted = int(row[0]) if row else 0
            (in_partition,) = conn.execute(f"SELECT count(*) FROM {target} WHERE {col} = ?", [value]).fetchone() or (0,)
            if in_partition != inserted:
                raise ValueError(
                    f"{inserted - in_partition} of {inserted} new rows are not in partition {column}={value!r}"
                )
            conn.execute("COMMIT")
            return inserted
        except BaseException:
            with suppress(duckdb.Error):  # a failed COMMIT has already ended the transaction
                conn.execute("ROLLBACK")
            raise

    retrying = Retrying(
        retry=retry_if_exception(is_commit_conflict),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.05, max=max_wait_seconds),
        reraise=True,
        before_sleep=(lambda state: on_conflict(state.outcome.exception())) if on_conflict else None,
    )
    return retrying(once)


class LakeWarehouseResource(dg.ConfigurableResource):
    """DuckDB connections attached to a DuckLake: catalog in PostgreSQL, parquet data under an ``s3://`` prefix.

    Any number of processes on any machines may hold connections at once; each transaction commits as one lake
    snapshot. The lake is the connection's default catalog (``USE``), so unqualified table names refer to it.
    """

    catalog_url: str = Field(description="PostgreSQL catalog, postgresql://user@host:port/dbname (no password)")
    data_url: str = Field(description="where the parquet data lives, s3://bucket/prefix/")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint; unset = AWS S3")
    s3_region: str | None = Field(default=None, description="region of the bucket")
    catalog_password: str | None = Field(
        default=None, repr=False, description="secret: give as dg.EnvVar; unset = libpq's PGPASSWORD or ~/.pgpass"
    )
    aws_access_key_id: str | None = Field(default=None, repr=False, description="secret: give as dg.EnvVar")
    aws_secret_access_key: str | None = Field(default=None, repr=False, description="secret: give as dg.EnvVar")
    alias: str = Field(default="lake", description="name of the attached lake in DuckDB")
    commit_attempts: int = Field(default=8, description="tries per transaction when writers conflict")

    @contextmanager
    def get_connection(self) -> Iterator[DuckDBPyConnection]:
        """An in-memory DuckDB connection with the lake attached and in use; closed afterwards, even on error."""
        with closing(duckdb.connect()) as conn:
            attach(conn, self)
            yield conn

    def replace_partition(
        self,
        conn: DuckDBPyConnection,
        table: str,
        column: str,
        value: Any,
        source_sql: str,
        params: Sequence[Any] = (),
        on_conflict: Callable[[BaseException], None] | None = None,
    ) -> int:
        """:func:`replace_partition` with this resource's retry budget."""
        return replace_partition(
            conn, table, column, value, source_sql, params, attempts=self.commit_attempts, on_conflict=on_conflict
        )


def attach(conn: DuckDBPyConnection, lake: LakeWarehouseResource) -> None:
    """Load the extensions, create the (temporary) secrets and ATTACH the lake as ``lake.alias``, then USE it."""
    load_extensions(conn)
    data_url = lake.data_url if lake.data_url.endswith("/") else lake.data_url + "/"
    conn.execute(
        s3_secret_sql(
            data_url, lake.s3_endpoint_url, lake.s3_region, lake.aws_access_key_id, lake.aws_secret_access_key
        )
    )
    if lake.catalog_password:
        conn.execute(
            f"CREATE OR REPLACE TEMPORARY SECRET (TYPE postgres, PASSWORD {sql_string(lake.catalog_password)})"
        )
    target = sql_string(f"ducklake:postgres:{catalog_params(lake.catalog_url)}")
    conn.execute(f"ATTACH {target} AS {sql_name(lake.alias)} (DATA_PATH {sql_string(data_url)})")
    conn.execute(f"USE {sql_name(lake.alias)}")


def lake_warehouse_from_settings(settings: Settings) -> LakeWarehouseResource | None:
    """The lake resource when the settings name a catalog and a data URL; None keeps the embedded DuckDB file.

    Secrets are passed as ``dg.EnvVar`` (resolved by Dagster at run time, shown by name): the catalog password
    when ``MEDICAID_WAREHOUSE_CATALOG_PASSWORD`` is set, and the standard AWS key variables.
    """
    if not settings.warehouse_catalog_url:
        return None
    if not settings.warehouse_data_url:
        raise ValueError("MEDICAID_WAREHOUSE_CATALOG_URL is set but MEDICAID_WAREHOUSE_DATA_URL is not")
    key_id, secret = (dg.EnvVar(var) for var in AWS_KEY_VARS)
    return LakeWarehouseResource(
        catalog_url=settings.warehouse_catalog_url,
        data_url=settings.warehouse_data_url,
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_region=settings.s3_region,
        catalog_password=dg.EnvVar(WAREHOUSE_CATALOG_PASSWORD_VAR) if settings.warehouse_catalog_password else None,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )

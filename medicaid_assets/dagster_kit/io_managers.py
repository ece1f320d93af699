"""IO managers for the values that pass between assets: DuckDB tables or parquet files, chosen by configuration.

An asset returns a ``polars.DataFrame`` (or ``LazyFrame``), a ``pyarrow.Table``, or a :class:`SqlFrame` (a DuckDB
query whose result is the value, so large data never enters Python), and the IO manager persists it:

- :class:`DuckDBTableIOManager` writes table ``<schema>.<asset name>``, the schema being the asset key's prefix (one
  DuckDB schema per family). Unpartitioned: ``CREATE OR REPLACE TABLE … AS …`` (atomic; a changed schema simply
  replaces the table). Partitioned (``metadata={"partition_expr": "<column or expression>"}``): the partition's rows
  are deleted and the new ones inserted inside ONE transaction, so a failed write leaves the previous rows (the
  upstream ``dagster-duckdb`` IO manager autocommits the DELETE and can leave the slice empty). Every inserted row
  must fall inside the partition(s) being written, and a partitioned table's columns cannot change partition by
  partition: both are errors that roll the write back.
- :class:`ParquetIOManager` writes ``<base>/<schema>/<asset>/<partition key>.parquet`` (unpartitioned:
  ``<base>/<schema>/<asset>.parquet``), ``base`` being a local directory or ``s3://bucket/prefix`` on AWS or an
  S3-compatible endpoint. Every file is written by DuckDB ``COPY … TO … (FORMAT parquet, COMPRESSION zstd)`` to a
  temp file and then renamed into place (local) or uploaded in one PUT / multipart upload (S3); a reader sees the
  previous file or the new one, never part of one.

Loads return a ``polars.DataFrame`` unless the input is annotated ``pyarrow.Table``, ``polars.LazyFrame`` or
:class:`SqlFrame` (a query over the stored table or local files, nothing read). Several partitions load as one frame.

Outputs get ``dagster/row_count`` (rows this output wrote), ``dagster/partition_row_count`` when partitioned,
``dagster/column_schema`` and ``dagster/table_name`` (DuckDB) or ``uri`` (parquet). Asset metadata may ask for more,
computed over the stored value: ``summary_sql`` (a one-row SELECT over the relation ``value``; its columns become
metadata) and ``preview_columns`` (the first ten rows of that many columns, as ``preview``).

A ``SqlFrame(sql, source=<digest>)`` is stored with its source digest (parquet key-value metadata ``dagster/source``,
S3 object metadata, or the DuckDB table ``_dagster_io.sources`` in the same transaction as the rows); when the stored
digest equals, nothing is evaluated or written and the output reports ``rewritten: False``. Input metadata
``columns`` loads only those columns; ``allow_missing`` (unpartitioned inputs) loads ``None`` when nothing is stored.

DuckDB connections are opened per call and closed in ``finally``: one process at a time may hold a DuckDB file, so
steps that write the warehouse still belong to the ``duckdb`` pool. Opening retries while another process holds the
lock, up to ``lock_timeout_seconds``. S3 credentials are never configuration: boto3 reads them from the standard AWS
environment (variables, profile, instance or pod role).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from medicaid_assets.core.atomic import atomic_path, remove_dead_temps, temp_path_for
from medicaid_assets.core.object_store import make_s3_client, parse_object_store_url
from medicaid_assets.dagster_kit.metadata import column_schema, markdown_table

IO_MANAGER_KINDS: tuple[str, ...] = ("duckdb", "parquet")
PARTITION_EXPR = "partition_expr"
SUMMARY_SQL = "summary_sql"  # asset metadata: one-row SELECT over `value` (the stored data) -> output metadata
PREVIEW_COLUMNS = "preview_columns"  # asset metadata: preview the first ten rows of this many columns
COLUMNS = "columns"  # input metadata: load only these columns
ALLOW_MISSING = "allow_missing"  # input metadata: an unpartitioned input with nothing stored loads as None
SOURCE_KEY = "dagster/source"  # parquet key-value metadata: the source digest the file was written from
_S3_SOURCE, _S3_ROWS = "dagster-source", "dagster-rows"  # S3 object metadata
_SOURCES = "_dagster_io.sources"  # DuckDB: source digest per table and partition set
_VALUE = "__dagster_value"  # name under which a Python value is registered in DuckDB for one write


@dataclass(frozen=True)
class SqlFrame:
    """A DuckDB query whose result is an asset's value; the IO manager runs it where the data is stored.

    With :class:`DuckDBTableIOManager` the query runs in the warehouse itself (``CREATE TABLE … AS <sql>``), so it can
    read other tables there; with :class:`ParquetIOManager` it runs in that manager's ``database`` (in-memory unless
    configured) and is copied out with ``COPY (<sql>) TO``. As an input annotation it asks for the stored data as a
    query instead of a frame.

    ``source`` (optional) is a digest of what the value is built from: when the stored value was written from the
    same digest, the IO manager keeps it and evaluates nothing. On a loaded input it is the stored digest, and
    ``database`` is where the query can run (the DuckDB file holding the table; None: any DuckDB connection).
    """

    sql: str
    source: str | None = None
    database: str | None = None

    def __post_init__(self) -> None:
        sql = self.sql.strip().rstrip(";").strip()
        if not sql:
            raise ValueError("SqlFrame needs a SELECT statement")
        object.__setattr__(self, "sql", sql)


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str

    @property
    def sql(self) -> str:
        """The quoted ``"schema"."name"`` to put in SQL."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


class PartitionWriteError(ValueError):
    """A partitioned write that was refused (and rolled back): rows outside the partition, or changed columns."""


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_ref(key: dg.AssetKey, metadata: Mapping[str, Any] | None = None, default_schema: str = "main") -> TableRef:
    """Where an asset is stored: schema = metadata ``schema``, else the key prefix (joined by ``_``), else default."""
    schema = (metadata or {}).get("schema") or ("_".join(key.path[:-1]) if len(key.path) > 1 else default_schema)
    return TableRef(str(schema), key.path[-1])


def partition_where(partitions_def: dg.PartitionsDefinition, keys: Sequence[str], expr: str) -> str:
    """A SQL condition true exactly for the rows of ``keys``.

    Time windows become half-open ranges (adjacent windows merged, so a range of daily partitions is one range);
    static and dynamic keys become ``expr IN (…)``.
    """
    if isinstance(expr, Mapping) or isinstance(partitions_def, dg.MultiPartitionsDefinition):
        raise NotImplementedError("multi-dimensional partitions are not supported by these IO managers yet")
    if not keys:
        raise ValueError("no partition keys to select")
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        spans: list[list[datetime]] = []
        for window in sorted((partitions_def.time_window_for_partition_key(k) for k in keys), key=lambda w: w.start):
            if spans and window.start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], window.end)
            else:
                spans.append([window.start, window.end])
        return " OR ".join(f"({expr} >= {_timestamp(start)} AND {expr} < {_timestamp(end)})" for start, end in spans)
    return f"{expr} IN ({', '.join(quote_literal(k) for k in keys)})"


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S')}'"


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


@contextlib.contextmanager
def duckdb_connection(
    database: str, config: Mapping[str, Any] | None = None, lock_timeout_seconds: float = 120.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection that is closed when the block ends, however it ends; waits while another process holds the file."""
    if database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    retrying = Retrying(
        retry=retry_if_exception(_is_lock_error),
        stop=stop_after_delay(lock_timeout_seconds),
        wait=wait_exponential(multiplier=0.1, max=5),
        reraise=True,
    )
    conn = retrying(duckdb.connect, database, config=dict(config or {}))
    try:
        yield conn
    finally:
        conn.close()


def _bind(conn: duckdb.DuckDBPyConnection, value: object) -> str:
    """A SELECT statement producing ``value`` on ``conn`` (a Python value is registered, not copied)."""
    if isinstance(value, SqlFrame):
        return value.sql
    if isinstance(value, pl.LazyFrame):
        value = value.collect()
    if isinstance(value, pl.DataFrame):
        value = value.to_arrow()
    if isinstance(value, pa.RecordBatch):
        value = pa.Table.from_batches([value])
    if not isinstance(value, pa.Table):
        raise TypeError(
            f"these IO managers store polars DataFrame/LazyFrame, pyarrow Table or SqlFrame values, not {type(value).__name__}"
        )
    conn.register(_VALUE, value)
    return f"SELECT * FROM {_VALUE}"


def _columns(conn: duckdb.DuckDBPyConnection, select: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in conn.execute(f"DESCRIBE {select}").fetchall()]


def _column_schema(columns: Sequence[tuple[str, str]], metadata: Mapping[str, Any]) -> dg.TableSchema:
    """The stored columns and types, with the descriptions of the asset's own ``dagster/column_schema``: the UI
    shows the materialization's schema, so without them an asset's documented columns would read as undescribed."""
    declared = metadata.get("dagster/column_schema")
    declared = getattr(declared, "schema", declared)  # a TableSchema, or the metadata value wrapping one
    described = {c.name: c.description for c in declared.columns if c.description} if declared else {}
    return column_schema(dict(columns), described)


def _count(conn: duckdb.DuckDBPyConnection, source: str, where: str | None = None) -> int:
    row = conn.execute(f"SELECT count(*) FROM {source}" + (f" WHERE {where}" if where else "")).fetchone()
    return int(row[0]) if row else 0


def _wanted_type(context: dg.InputContext) -> type:
    dagster_type = context.dagster_type
    if dagster_type.kind.value == "NULLABLE":  # `X | None`: None when allow_missing and nothing stored
        dagster_type = dagster_type.inner_type  # type: ignore[attr-defined]
    wanted = dagster_type.typing_type
    return wanted if wanted in (pl.DataFrame, pl.LazyFrame, pa.Table, SqlFrame) else pl.DataFrame


def _input_columns(context: dg.InputContext) -> list[str] | None:
    columns = (context.definition_metadata or {}).get(COLUMNS)
    return list(columns) if columns else None


def _select_list(columns: Sequence[str] | None) -> str:
    return ", ".join(quote_ident(c) for c in columns) if columns else "*"


def _allow_missing(context: dg.InputContext) -> bool:
    return bool((context.definition_metadata or {}).get(ALLOW_MISSING, False)) and not context.has_asset_partitions


def _missing(context: dg.InputContext, where: str) -> None:
    raise FileNotFoundError(
        f"{context.asset_key.to_user_string()} has no stored value ({where}): materialize it first, or give the "
        f"input metadata {ALLOW_MISSING}=True (annotated `... | None`) to receive None"
    )


def _metadata_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def stored_value_metadata(
    conn: duckdb.DuckDBPyConnection, relation: str, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``summary_sql`` and ``preview_columns`` metadata the asset asks for, over ``relation`` (a SELECT)."""
    out: dict[str, Any] = {}
    if summary := metadata.get(SUMMARY_SQL):
        cursor = conn.execute(f"WITH value AS ({relation}) {summary}")
        row = cursor.fetchone() or ()
        out.update({d[0]: _metadata_value(v) for d, v in zip(cursor.description or [], row, strict=False)})
    if count := metadata.get(PREVIEW_COLUMNS):
        names = [name for name, _ in _columns(conn, f"SELECT * FROM ({relation})")][: int(count)]
        rows = conn.execute(f"SELECT {_select_list(names)} FROM ({relation}) LIMIT 10").fetchall()
        out["preview"] = dg.MetadataValue.md(markdown_table(names, rows))
    return out


def _partition_expr(context: dg.OutputContext | dg.InputContext, metadata: Mapping[str, Any], what: str) -> str:
    expr = metadata.get(PARTITION_EXPR)
    if not expr:
        raise ValueError(
            f"asset {context.asset_key.to_user_string()} is partitioned but has no {PARTITION_EXPR!r} metadata; "
            f"the {what} needs it to know which rows belong to a partition"
        )
    return expr


def _upstream_metadata(context: dg.InputContext) -> Mapping[str, Any]:
    return (context.upstream_output.definition_metadata if context.upstream_output else None) or {}


class DuckDBTableIOManager(dg.ConfigurableIOManager):
    """Stores each asset as DuckDB table ``<key prefix>.<asset name>``; partitions replaced in one transaction."""

    database: str = Field(description="DuckDB file (the warehouse); created if missing")
    default_schema: str = Field(default="main", description="schema for asset keys without a prefix")
    connection_config: dict[str, Any] = Field(
        default_factory=dict, description="duckdb.connect config, e.g. memory_limit, temp_directory, threads"
    )
    lock_timeout_seconds: float = Field(
        default=120.0, description="how long to wait for another process to release the DuckDB file"
    )

    def _connect(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        return duckdb_connection(self.database, self.connection_config, self.lock_timeout_seconds)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:  # an asset that wrote its data itself (see docs/decisions/0001)
            return
        metadata = context.definition_metadata or {}
        ref = table_ref(context.asset_key, metadata, self.default_schema)
        where = None
        partitions = ""
        if context.has_asset_partitions:
            expr = _partition_expr(context, metadata, "DuckDB IO manager")
            where = partition_where(context.asset_partitions_def, context.asset_partition_keys, expr)
            partitions = ",".join(sorted(context.asset_partition_keys))
        source = obj.source if isinstance(obj, SqlFrame) else None
        with self._connect() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                kept = (
                    source is not None and _table_exists(conn, ref) and _stored_source(conn, ref, partitions) == source
                )
                if kept:
                    written = _count(conn, ref.sql, where)
                else:
                    written = self._write(conn, ref, obj, where)
                    _record_source(conn, ref, partitions, source)
                columns = _columns(conn, ref.sql)
                total = _count(conn, ref.sql)
                stored = f"SELECT * FROM {ref.sql}" + (f" WHERE {where}" if where else "")
                extra = stored_value_metadata(conn, stored, metadata)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    conn.execute("ROLLBACK")
                raise
        out: dict[str, Any] = {
            "dagster/row_count": written,
            "dagster/column_schema": _column_schema(columns, metadata),
            "dagster/table_name": str(ref),
            **extra,
        }
        if where is not None:
            out["dagster/partition_row_count"] = written
            out["table_row_count"] = total
        if source is not None:
            out["rewritten"] = not kept
        if kept:
            context.log.info(f"{ref} is current (stored from the same source): nothing rewritten")
        context.add_output_metadata(out)

    def _write(self, conn: duckdb.DuckDBPyConnection, ref: TableRef, obj: object, where: str | None) -> int:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(ref.schema)}")
        source = _bind(conn, obj)
        if where is None:
            conn.execute(f"CREATE OR REPLACE TABLE {ref.sql} AS {source}")
            return _count(conn, ref.sql)
        if _table_exists(conn, ref):
            old, new = _columns(conn, ref.sql), _columns(conn, f"SELECT * FROM ({source})")
            if dict(old) != dict(new):
                raise PartitionWriteError(
                    f"table {ref} has columns {dict(old)} but this output has {dict(new)}; a partitioned table "
                    f"cannot change columns one partition at a time. Migrate it (ALTER TABLE), or drop it "
                    f"(DROP TABLE {ref.sql}) and materialize every partition again. Nothing was written."
                )
            conn.execute(f"DELETE FROM {ref.sql} WHERE {where}")
            row = conn.execute(f"INSERT INTO {ref.sql} BY NAME {source}").fetchone()
            written = int(row[0]) if row else 0
        else:
            conn.execute(f"CREATE TABLE {ref.sql} AS {source}")
            written = _count(conn, ref.sql)
        inside = _count(conn, ref.sql, where)
        if inside != written:
            raise PartitionWriteError(
                f"{written - inside} of the {written} rows written to {ref} fall outside the partition(s) being "
                f"written ({where}); nothing was written"
            )
        return written

    def load_input(self, context: dg.InputContext) -> object:
        metadata = _upstream_metadata(context)
        ref = table_ref(context.asset_key, metadata, self.default_schema)
        sql = f"SELECT {_select_list(_input_columns(context))} FROM {ref.sql}"
        partitions = ""
        if context.has_asset_partitions:
            expr = _partition_expr(context, metadata, "DuckDB IO manager")
            sql += f" WHERE {partition_where(context.asset_partitions_def, context.asset_partition_keys, expr)}"
            partitions = ",".join(sorted(context.asset_partition_keys))
        wanted = _wanted_type(context)
        with self._connect() as conn:  # short: the step does not keep the DuckDB file (decision 0001)
            if not _table_exists(conn, ref):
                if _allow_missing(context):
                    return None
                _missing(context, f"no table {ref} in {self.database}")
            if wanted is SqlFrame:
                return SqlFrame(sql, source=_stored_source(conn, ref, partitions), database=self.database)
            relation = conn.sql(sql)
            if wanted is pa.Table:
                return relation.to_arrow_table()
            frame = relation.pl()
        return frame.lazy() if wanted is pl.LazyFrame else frame


def _table_exists(conn: duckdb.DuckDBPyConnection, ref: TableRef) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [ref.schema, ref.name],
    ).fetchone()
    return bool(row and row[0])


def _stored_source(conn: duckdb.DuckDBPyConnection, ref: TableRef, partitions: str) -> str | None:
    """The source digest ``ref`` (these partitions) was last written from, if it was written from one."""
    if not _table_exists(conn, TableRef(*_SOURCES.split("."))):
        return None
    row = conn.execute(
        f"SELECT source FROM {_SOURCES} WHERE table_name = ? AND partitions = ?", [str(ref), partitions]
    ).fetchone()
    return row[0] if row else None


def _record_source(conn: duckdb.DuckDBPyConnection, ref: TableRef, partitions: str, source: str | None) -> None:
    """Note (in the write's transaction) what ``ref`` was written from; a write without a source forgets it."""
    if source is None and not _table_exists(conn, TableRef(*_SOURCES.split("."))):
        return
    schema = _SOURCES.split(".")[0]
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {_SOURCES} (table_name VARCHAR, partitions VARCHAR, source VARCHAR, "
        "PRIMARY KEY (table_name, partitions))"
    )
    conn.execute(f"DELETE FROM {_SOURCES} WHERE table_name = ? AND partitions = ?", [str(ref), partitions])
    if source is not None:
        conn.execute(f"INSERT INTO {_SOURCES} VALUES (?, ?, ?)", [str(ref), partitions, source])


class ParquetIOManager(dg.ConfigurableIOManager):
    """Stores each asset as parquet: ``<base>/<schema>/<asset>[/<partition key>].parquet``, local or on S3."""

    base: str = Field(description="a local directory, or s3://bucket/prefix")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint; unset = AWS S3")
    region: str | None = Field(default=None, description="bucket region; unset = boto3's default")
    database: str = Field(default=":memory:", description="DuckDB database in which SqlFrame values are evaluated")
    default_schema: str = Field(default="main", description="folder for asset keys without a prefix")
    connection_config: dict[str, Any] = Field(default_factory=dict, description="duckdb.connect config")
    lock_timeout_seconds: float = Field(default=120.0, description="wait for a DuckDB file held by another process")
    staging_dir: str | None = Field(default=None, description="where S3 uploads and downloads are staged")

    @property
    def _s3(self) -> tuple[str, str] | None:
        return parse_object_store_url(self.base) if self.base.startswith("s3://") else None

    def _relative(self, key: dg.AssetKey, metadata: Mapping[str, Any], partition: str | None) -> str:
        ref = table_ref(key, metadata, self.default_schema)
        if partition is None:
            return f"{ref.schema}/{ref.name}.parquet"
        return f"{ref.schema}/{ref.name}/{quote(partition, safe='')}.parquet"

    def _uri(self, relative: str) -> str:
        if (s3 := self._s3) is not None:
            bucket, prefix = s3
            return f"s3://{bucket}/{prefix + '/' if prefix else ''}{relative}"
        return str(Path(self.base).expanduser().resolve() / relative)

    def _s3_key(self, relative: str) -> str:
        _, prefix = self._s3 or ("", "")
        return f"{prefix}/{relative}" if prefix else relative

    def _client(self) -> Any:
        return make_s3_client(self.endpoint_url, self.region)

    def _staging(self) -> str | None:
        """``staging_dir``, created on first use (None: the system's temp folder)."""
        if self.staging_dir is None:
            return None
        path = Path(self.staging_dir).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        metadata = context.definition_metadata or {}
        keys: list[str | None] = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
        expr = metadata.get(PARTITION_EXPR)
        if len(keys) > 1 and not expr:
            _partition_expr(context, metadata, "parquet IO manager (to split one output into a file per partition)")
        targets = [(k, self._relative(context.asset_key, metadata, k)) for k in keys]
        local_base = None if self._s3 else Path(self.base).expanduser().resolve()
        source = obj.source if isinstance(obj, SqlFrame) else None
        uri = self._uri(targets[0][1]) if len(targets) == 1 else self._uri(targets[0][1].rsplit("/", 1)[0])
        kept = self._kept(targets, local_base, source, metadata) if source is not None else None
        if kept is not None:  # stored from the same source: nothing evaluated, nothing written
            rows, schema, extra = kept
        else:
            with contextlib.ExitStack() as stack:
                staging = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=self._staging())))
                # Only a SqlFrame needs the configured database (it may read the warehouse); a frame is copied out
                # of an in-memory DuckDB, so writing it never waits for the warehouse's lock.
                database = self.database if isinstance(obj, SqlFrame) else ":memory:"
                conn = stack.enter_context(
                    duckdb_connection(database, self.connection_config, self.lock_timeout_seconds)
                )
                files = self._copy_out(context, conn, obj, targets, expr, local_base, staging, stack, source)
                extra = stored_value_metadata(conn, _read_parquet_sql([tmp for tmp, _ in files]), metadata)
                conn.close()
                rows = sum(pq.read_metadata(tmp).num_rows for tmp, _ in files)
                schema = pq.read_schema(files[0][0])
                self._publish(files, local_base, source)
        out: dict[str, Any] = {
            "dagster/row_count": rows,
            **(
                {"dagster/column_schema": _column_schema([(f.name, str(f.type)) for f in schema], metadata)}
                if schema
                else {}
            ),
            "uri": uri,
            **extra,
        }
        if context.has_asset_partitions:
            out["dagster/partition_row_count"] = rows
        if source is not None:
            out["rewritten"] = kept is None
        if kept is not None:
            context.log.info(f"{uri} is current (stored from the same source): nothing rewritten")
        context.add_output_metadata(out)

    def _kept(
        self,
        targets: list[tuple[str | None, str]],
        local_base: Path | None,
        source: str,
        metadata: Mapping[str, Any],
    ) -> tuple[int, pa.Schema | None, dict[str, Any]] | None:
        """(rows, schema, extra metadata) of the stored files when every one was written from ``source``; else None."""
        if local_base is not None:
            paths = [local_base / relative for _, relative in targets]
            if not all(p.is_file() and _parquet_source(p) == source for p in paths):
                return None
            with duckdb_connection(":memory:") as conn:
                extra = stored_value_metadata(conn, _read_parquet_sql(paths), metadata)
            return sum(pq.read_metadata(p).num_rows for p in paths), pq.read_schema(paths[0]), extra
        bucket, _ = self._s3 or ("", "")
        client, rows = self._client(), 0
        for _, relative in targets:
            try:
                head = client.head_object(Bucket=bucket, Key=self._s3_key(relative))
            except Exception as exc:
                if _not_found(exc):
                    return None
                raise
            stored = head.get("Metadata") or {}
            if stored.get(_S3_SOURCE) != source:
                return None
            rows += int(stored.get(_S3_ROWS) or 0)
        return rows, None, {}

    def _copy_out(
        self,
        context: dg.OutputContext,
        conn: duckdb.DuckDBPyConnection,
        obj: object,
        targets: list[tuple[str | None, str]],
        expr: str | None,
        local_base: Path | None,
        staging: Path,
        stack: contextlib.ExitStack,
        digest: str | None = None,
    ) -> list[tuple[Path, str]]:
        """COPY the value to one temp file per target (with the source ``digest`` as key-value metadata); checks that
        every row lands in its partition."""
        source = _bind(conn, obj)
        if len(targets) > 1 and isinstance(obj, SqlFrame):  # evaluate once, split many times
            conn.execute(f"CREATE TEMP TABLE {_VALUE}_t AS {source}")
            source = f"SELECT * FROM {_VALUE}_t"
        files: list[tuple[Path, str]] = []
        for partition, relative in targets:
            if local_base is not None:
                final = local_base / relative
                final.parent.mkdir(parents=True, exist_ok=True)
                remove_dead_temps(final)  # a killed writer's temp (a SIGKILL runs no cleanup)
                tmp = temp_path_for(final, per_call=True)
                stack.callback(lambda p=tmp: p.unlink(missing_ok=True))
            else:
                tmp = staging / f"{len(files)}.parquet"
            select = source
            if partition is not None and expr and len(targets) > 1:
                where = partition_where(context.asset_partitions_def, [partition], expr)
                select = f"SELECT * FROM ({source}) WHERE {where}"
            kv = f", KV_METADATA {{{quote_literal(SOURCE_KEY)}: {quote_literal(digest)}}}" if digest else ""
            conn.execute(f"COPY ({select}) TO {quote_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd{kv})")
            files.append((tmp, relative))
        if expr and context.has_asset_partitions:
            if len(targets) == 1:
                where = partition_where(context.asset_partitions_def, [targets[0][0] or ""], expr)
                outside = _count(conn, f"read_parquet({quote_literal(str(files[0][0]))})", f"({where}) IS NOT TRUE")
                total = pq.read_metadata(files[0][0]).num_rows
            else:
                total = _count(conn, f"({source})")
                outside = total - sum(pq.read_metadata(tmp).num_rows for tmp, _ in files)
            if outside:
                raise PartitionWriteError(
                    f"{outside} of the {total} rows of {context.asset_key.to_user_string()} fall outside the "
                    f"partition(s) {[k for k, _ in targets]} ({PARTITION_EXPR} {expr!r}); nothing was written"
                )
        return files

    def _publish(self, files: list[tuple[Path, str]], local_base: Path | None, source: str | None = None) -> None:
        if local_base is not None:
            for tmp, relative in files:
                with tmp.open("rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, local_base / relative)
            return
        bucket, _ = self._s3 or ("", "")
        client = self._client()
        for tmp, relative in files:  # one PUT (or a multipart upload) makes the object visible whole
            if source is None:
                client.upload_file(str(tmp), bucket, self._s3_key(relative))
            else:
                rows = str(pq.read_metadata(tmp).num_rows)
                extra = {"Metadata": {_S3_SOURCE: source, _S3_ROWS: rows}}
                client.upload_file(str(tmp), bucket, self._s3_key(relative), ExtraArgs=extra)

    def load_input(self, context: dg.InputContext) -> object:
        metadata = _upstream_metadata(context)
        keys: list[str | None] = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
        relatives = [self._relative(context.asset_key, metadata, k) for k in keys]
        allow_missing = bool((context.definition_metadata or {}).get("allow_missing_partitions", False))
        wanted, columns = _wanted_type(context), _input_columns(context)
        if self._s3 is None:
            base = Path(self.base).expanduser().resolve()
            candidates = [base / r for r in relatives]
            if _allow_missing(context) and not candidates[0].exists():
                return None
            paths = _present(
                context, candidates, [p.exists() for p in candidates], [str(p) for p in candidates], allow_missing
            )
            if wanted is SqlFrame:
                source = _parquet_source(paths[0]) if len(paths) == 1 else None
                files = ", ".join(quote_literal(str(p)) for p in paths)
                return SqlFrame(f"SELECT {_select_list(columns)} FROM read_parquet([{files}])", source=source)
            return _read_parquet(paths, wanted, columns)
        if wanted is SqlFrame:
            return self._sql_over_local_copies(context, relatives, allow_missing, columns)
        bucket, _ = self._s3
        client = self._client()
        with tempfile.TemporaryDirectory(dir=self._staging()) as staging:
            found: list[bool] = []
            local = [Path(staging) / f"{i}.parquet" for i in range(len(relatives))]
            for relative, path in zip(relatives, local, strict=True):
                try:
                    client.download_file(bucket, self._s3_key(relative), str(path))
                    found.append(True)
                except Exception as exc:
                    if not _not_found(exc):
                        raise
                    found.append(False)
            if _allow_missing(context) and not found[0]:
                return None
            paths = _present(context, local, found, [self._uri(r) for r in relatives], allow_missing)
            frame = _read_parquet(paths, pa.Table if wanted is pa.Table else pl.DataFrame, columns)
        return frame.lazy() if wanted is pl.LazyFrame and isinstance(frame, pl.DataFrame) else frame

    def _sql_over_local_copies(
        self, context: dg.InputContext, relatives: list[str], allow_missing: bool, columns: Sequence[str] | None
    ) -> SqlFrame | None:
        """A SqlFrame over local copies of the S3 objects: DuckDB reads parquet on S3 only through httpfs, so the
        objects are downloaded once to ``<staging_dir>/s3/<bucket>/<key>`` (kept while their ETag is the same,
        replaced atomically) and the query reads those files; the asset may run it whenever it likes."""
        bucket, _ = self._s3 or ("", "")
        client = self._client()
        root = Path(self._staging() or tempfile.gettempdir()) / "s3" / bucket
        local: list[Path] = []
        found: list[bool] = []
        for relative in relatives:
            key, path = self._s3_key(relative), root / self._s3_key(relative)
            try:
                head = client.head_object(Bucket=bucket, Key=key)
            except Exception as exc:
                if not _not_found(exc):
                    raise
                local.append(path)
                found.append(False)
                continue
            etag = head.get("ETag", "")
            marker = path.with_name(path.name + ".etag")
            if not (path.exists() and marker.exists() and marker.read_text() == etag):
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    client.download_file(bucket, key, str(tmp))
                with atomic_path(marker) as tmp:
                    tmp.write_text(etag)
            local.append(path)
            found.append(True)
        if _allow_missing(context) and not found[0]:
            return None
        paths = _present(context, local, found, [self._uri(r) for r in relatives], allow_missing)
        source = _parquet_source(paths[0]) if len(paths) == 1 else None
        files = ", ".join(quote_literal(str(p)) for p in paths)
        return SqlFrame(f"SELECT {_select_list(columns)} FROM read_parquet([{files}])", source=source)


def _not_found(exc: Exception) -> bool:
    """Whether boto3's ``exc`` says the object does not exist."""
    code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
    return code in ("404", "NoSuchKey", "NotFound")


def _present(
    context: dg.InputContext, paths: list[Path], found: list[bool], labels: list[str], allow_missing: bool
) -> list[Path]:
    """The paths that were found; a missing one is an error unless the input allows missing partitions."""
    missing = [label for label, ok in zip(labels, found, strict=True) if not ok]
    if missing and not allow_missing:
        raise FileNotFoundError(
            f"{context.asset_key.to_user_string()}: {len(missing)} stored file(s) missing, e.g. {missing[:3]}; "
            "materialize them, or set input metadata allow_missing_partitions=True"
        )
    return [p for p, ok in zip(paths, found, strict=True) if ok]


def _read_parquet(paths: list[Path], wanted: type, columns: list[str] | None = None) -> object:
    if wanted is pa.Table:
        return pa.concat_tables([pq.read_table(p, columns=columns) for p in paths]) if paths else pa.table({})
    if wanted is pl.LazyFrame:
        if not paths:
            return pl.LazyFrame()
        lazy = pl.scan_parquet([str(p) for p in paths])
        return lazy.select(columns) if columns else lazy
    if not paths:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(p, columns=columns) for p in paths], how="vertical")


def _read_parquet_sql(paths: Sequence[Path]) -> str:
    return f"SELECT * FROM read_parquet([{', '.join(quote_literal(str(p)) for p in paths)}])"


def _parquet_source(path: Path) -> str | None:
    """The source digest a parquet file was written from (its key-value metadata), if any."""
    stored = pq.read_metadata(path).metadata or {}
    value = stored.get(SOURCE_KEY.encode())
    return value.decode() if value is not None else None


def io_manager_from_settings(
    kind: str,
    *,
    database: str | os.PathLike[str] | None = None,
    base: str | os.PathLike[str] | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    connection_config: Mapping[str, Any] | None = None,
    staging_dir: str | os.PathLike[str] | None = None,
) -> DuckDBTableIOManager | ParquetIOManager:
    """The IO manager configuration asks for: ``"duckdb"`` (needs ``database``) or ``"parquet"`` (needs ``base``).

    For parquet, ``database`` (optional) is where SqlFrame values are evaluated, e.g. the warehouse they read from;
    ``staging_dir`` where S3 transfers are staged and S3 objects read as SqlFrames are copied (default: the system's
    temp folder).
    """
    config = dict(connection_config or {})
    if kind == "duckdb":
        if database is None:
            raise ValueError("the duckdb IO manager needs database=<path to the DuckDB file>")
        return DuckDBTableIOManager(database=str(database), connection_config=config)
    if kind == "parquet":
        if base is None:
            raise ValueError("the parquet IO manager needs base=<local directory or s3://bucket/prefix>")
        base_text = str(base)
        if base_text.startswith("s3://"):
            parse_object_store_url(base_text)  # refuses a malformed URL now, not at the first write
        return ParquetIOManager(
            base=base_text,
            endpoint_url=endpoint_url,
            region=region,
            database=str(database) if database is not None else ":memory:",
            connection_config=config,
            staging_dir=str(staging_dir) if staging_dir is not None else None,
        )
    raise ValueError(f"unknown IO manager kind {kind!r}; expected one of {', '.join(IO_MANAGER_KINDS)}")

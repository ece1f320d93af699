"""The IO managers under real ``dg.materialize`` runs: DuckDB tables, local parquet and parquet on S3 (moto).

Every DuckDB check opens the file ``read_only=True`` in this process: DuckDB refuses that while any connection with
another configuration is still open, so each check also proves the IO manager closed its connection.
"""

import json
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyarrow as pa
import pytest

from medicaid_assets.dagster_kit.io_managers import (
    ALLOW_MISSING,
    COLUMNS,
    PREVIEW_COLUMNS,
    SUMMARY_SQL,
    DuckDBTableIOManager,
    ParquetIOManager,
    SqlFrame,
    io_manager_from_settings,
    table_ref,
)
from medicaid_assets_tests.support.events import failure_text, values

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-08")
FILES = dg.DynamicPartitionsDefinition(name="files")
EVENTS = dg.AssetKey(["fam", "events"])
KINDS = ("polars", "arrow", "sql")


class Gen(dg.Config):
    kind: str = "polars"  # polars | arrow | sql | sql_fail
    version: int = 1
    rows: int = 3
    shift_days: int = 0  # >0 puts the rows in a later day than the partition (must be refused)
    extra_column: bool = False


def _value(days: list[str], config: Gen) -> object:
    """``rows`` rows per day: (day, n, v=version[, extra]) as the requested value type."""
    shifted = [date.fromisoformat(d) + timedelta(days=config.shift_days) for d in days]
    if config.kind.startswith("sql"):
        extra = ", 'x' AS extra" if config.extra_column else ""
        v = "CASE WHEN n = 1 THEN error('boom mid-write') ELSE v END AS v" if config.kind == "sql_fail" else "v"
        unions = " UNION ALL ".join(
            f"SELECT DATE '{d}' AS day, range AS n, {config.version} AS v{extra} FROM range({config.rows})"
            for d in shifted
        )
        return SqlFrame(f"SELECT day, n, {v}{', extra' if extra else ''} FROM ({unions})")
    data: dict[str, list] = {
        "day": [d for d in shifted for _ in range(config.rows)],
        "n": [n for _ in shifted for n in range(config.rows)],
        "v": [config.version] * (len(shifted) * config.rows),
    }
    if config.extra_column:
        data["extra"] = ["x"] * len(data["day"])
    frame = pl.DataFrame(data, schema_overrides={"n": pl.Int64, "v": pl.Int32})
    return frame.to_arrow() if config.kind == "arrow" else frame


# Descriptions declared on the asset carry over to the stored value's schema (the one the UI shows); "v" has none.
DESCRIBED = dg.TableSchema(
    columns=[dg.TableColumn("day", "DATE", description="the day"), dg.TableColumn("n", "BIGINT", description="row")]
)


@dg.asset(key=EVENTS, partitions_def=DAYS, metadata={"partition_expr": "day", "dagster/column_schema": DESCRIBED})
def events(context: dg.AssetExecutionContext, config: Gen) -> object:
    return _value(list(context.partition_keys), config)


@dg.asset(key=["fam", "summary"], ins={"events": dg.AssetIn(EVENTS)})
def summary(events: pl.DataFrame) -> pl.DataFrame:
    return events.group_by("day").agg(pl.len().alias("rows"), pl.col("v").max()).sort("day")


@dg.asset(
    key=["fam", "daily_copy"],
    partitions_def=DAYS,
    metadata={"partition_expr": "day"},
    ins={"events": dg.AssetIn(EVENTS)},
)
def daily_copy(events: pa.Table) -> pa.Table:
    assert isinstance(events, pa.Table)
    return events


@dg.asset(key=["fam", "counts"], ins={"events": dg.AssetIn(EVENTS)})
def counts(events: SqlFrame) -> SqlFrame:
    assert isinstance(events, SqlFrame)  # nothing was read into Python
    return SqlFrame(f"SELECT day, count(*) AS rows FROM ({events.sql}) GROUP BY day ORDER BY day")


def _run(
    assets, io_manager, partition=None, select=None, tags=None, instance=None, **config
) -> dg.ExecuteInProcessResult:
    has_events = any(EVENTS in a.keys for a in assets) and (select is None or EVENTS in select)
    run_config = dg.RunConfig({"fam__events": Gen(**config)}) if has_events else None
    return dg.materialize(
        assets,
        resources={"io_manager": io_manager},
        partition_key=partition,
        run_config=run_config,
        selection=select,
        tags=tags,
        instance=instance,
        raise_on_error=False,
    )


def _meta(result: dg.ExecuteInProcessResult, node: str = "fam__events") -> dict:
    """The output metadata (a range run records one materialization per partition, all with the same metadata)."""
    first, *others = result.asset_materializations_for_node(node)
    assert all(m.metadata == first.metadata for m in others)
    return values(first.metadata)


def _query(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def _by_day(database: Path) -> dict[str, tuple[int, int, int]]:
    """day -> (rows, min v, max v) in fam.events."""
    rows = _query(database, "SELECT day, count(*), min(v), max(v) FROM fam.events GROUP BY day ORDER BY day")
    return {str(day): (n, lo, hi) for day, n, lo, hi in rows}


# ---------------------------------------------------------------- DuckDB


@pytest.mark.parametrize("kind", KINDS)
def test_duckdb_partition_write_replaces_exactly_its_rows(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "wh.duckdb"
    iom = DuckDBTableIOManager(database=str(db))
    assert _run([events], iom, "2024-01-01", kind=kind, rows=3).success
    assert _run([events], iom, "2024-01-02", kind=kind, rows=2).success
    result = _run([events], iom, "2024-01-01", kind=kind, rows=4, version=2)
    assert result.success
    assert _by_day(db) == {"2024-01-01": (4, 2, 2), "2024-01-02": (2, 1, 1)}

    meta = _meta(result)
    assert meta["dagster/row_count"] == meta["dagster/partition_row_count"] == 4
    assert meta["table_row_count"] == 6
    assert meta["dagster/table_name"] == "fam.events"
    assert [(c.name, c.type) for c in meta["dagster/column_schema"].columns] == [
        ("day", "DATE"),
        ("n", "BIGINT"),
        ("v", "INTEGER"),
    ]
    assert [c.description for c in meta["dagster/column_schema"].columns] == ["the day", "row", None]

    again = _run([events], iom, "2024-01-01", kind=kind, rows=4, version=2)  # rerun: same table
    assert again.success
    assert _by_day(db) == {"2024-01-01": (4, 2, 2), "2024-01-02": (2, 1, 1)}

    down = _run([events, summary], iom, select=[summary.key])
    assert down.success
    assert _query(db, "SELECT day::VARCHAR, rows, v FROM fam.summary ORDER BY day") == [
        ("2024-01-01", 4, 2),
        ("2024-01-02", 2, 1),
    ]
    assert _meta(down, "fam__summary")["dagster/row_count"] == 2


def test_duckdb_failed_write_leaves_the_previous_rows(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    iom = DuckDBTableIOManager(database=str(db))
    assert _run([events], iom, "2024-01-01", rows=3).success
    assert _run([events], iom, "2024-01-02", rows=2).success
    before = _by_day(db)

    # The SQL fails while rows are being inserted, after the DELETE of the partition's rows ran.
    assert "boom mid-write" in failure_text(_run([events], iom, "2024-01-01", kind="sql_fail", rows=5, version=9))
    assert _by_day(db) == before  # read_only open also proves the failed write closed its connection

    # Rows that belong to another day are refused, and the refusal rolls back the delete too.
    message = failure_text(_run([events], iom, "2024-01-01", rows=5, version=9, shift_days=1))
    assert "fall outside the partition" in message
    assert _by_day(db) == before

    # Same on a first write (the table does not exist yet): nothing is left behind.
    other = tmp_path / "other.duckdb"
    assert "fall outside" in failure_text(
        _run([events], DuckDBTableIOManager(database=str(other)), "2024-01-03", shift_days=2)
    )
    assert _query(other, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'") == [(0,)]


def test_duckdb_schema_changes(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    iom = DuckDBTableIOManager(database=str(db))
    assert _run([events], iom, "2024-01-01").success
    message = failure_text(_run([events], iom, "2024-01-02", extra_column=True))
    assert "fam.events" in message and "DROP TABLE" in message
    assert _by_day(db) == {"2024-01-01": (3, 1, 1)}

    shape = {"columns": ["a"]}

    @dg.asset(key=["fam", "plain"])
    def plain() -> pl.DataFrame:
        return pl.DataFrame({c: [1, 2] for c in shape["columns"]})

    assert _run([plain], iom).success
    shape["columns"] = ["a", "b", "c"]
    result = _run([plain], iom)
    assert result.success  # unpartitioned: the table is replaced whole
    assert _query(db, "SELECT * FROM fam.plain") == [(1, 1, 1), (2, 2, 2)]
    assert _meta(result, "fam__plain")["dagster/row_count"] == 2


def test_duckdb_range_run_and_partitioned_and_lazy_loads(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    iom = DuckDBTableIOManager(database=str(db))
    assert _run([events], iom, "2024-01-02", rows=7).success  # outside the range: must survive
    tags = {"dagster/asset_partition_range_start": "2024-01-03", "dagster/asset_partition_range_end": "2024-01-05"}
    result = _run([events], iom, tags=tags, kind="sql", version=3)
    assert result.success
    assert _meta(result)["dagster/row_count"] == 9
    assert _by_day(db) == {
        "2024-01-02": (7, 1, 1),
        "2024-01-03": (3, 3, 3),
        "2024-01-04": (3, 3, 3),
        "2024-01-05": (3, 3, 3),
    }
    assert _run([events], iom, tags=tags, kind="sql", version=4, rows=1).success  # the range replaced as a whole
    assert _by_day(db)["2024-01-04"] == (1, 4, 4) and _by_day(db)["2024-01-02"] == (7, 1, 1)

    # A partitioned downstream loads only its own day (as a pyarrow Table, by annotation).
    copy = _run([events, daily_copy], iom, "2024-01-04", select=[daily_copy.key])
    assert copy.success
    assert _query(db, "SELECT day::VARCHAR, count(*) FROM fam.daily_copy GROUP BY day") == [("2024-01-04", 1)]

    # A SqlFrame input is a query over the stored table; the SqlFrame output is created in place from it.
    assert _run([events, counts], iom, select=[counts.key]).success
    assert _query(db, "SELECT day::VARCHAR, rows FROM fam.counts") == [
        ("2024-01-02", 7),
        ("2024-01-03", 1),
        ("2024-01-04", 1),
        ("2024-01-05", 1),
    ]


def test_duckdb_dynamic_partition_keys_are_quoted(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    keys = ["a.csv", "it's/odd.csv"]
    instance.add_dynamic_partitions("files", keys)

    @dg.asset(key=["fam", "files"], partitions_def=FILES, metadata={"partition_expr": "file"})
    def files(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return pl.DataFrame({"file": [context.partition_key] * 2, "x": [1, 2]})

    db = tmp_path / "wh.duckdb"
    iom = DuckDBTableIOManager(database=str(db))
    for key in [*keys, keys[1]]:
        assert _run([files], iom, key, instance=instance).success
    assert _query(db, "SELECT file, count(*) FROM fam.files GROUP BY file ORDER BY file") == [(k, 2) for k in keys]

    parquet = ParquetIOManager(base=str(tmp_path / "pq"))
    for key in keys:
        assert _run([files], parquet, key, instance=instance).success
    assert sorted(p.name for p in (tmp_path / "pq" / "fam" / "files").iterdir()) == [
        "a.csv.parquet",
        "it%27s%2Fodd.csv.parquet",
    ]
    assert (
        pl.read_parquet(tmp_path / "pq" / "fam" / "files" / "it%27s%2Fodd.csv.parquet")["file"].to_list()
        == [keys[1]] * 2
    )


def test_duckdb_requires_partition_expr(tmp_path: Path) -> None:
    @dg.asset(key=["fam", "bare"], partitions_def=DAYS)
    def bare() -> pl.DataFrame:
        return pl.DataFrame({"day": [date(2024, 1, 1)]})

    message = failure_text(_run([bare], DuckDBTableIOManager(database=str(tmp_path / "wh.duckdb")), "2024-01-01"))
    assert "partition_expr" in message


def test_duckdb_waits_for_another_process_to_release_the_file(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    hold = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(2.5)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        impatient = DuckDBTableIOManager(database=str(db), lock_timeout_seconds=0.3)
        assert "lock" in failure_text(_run([events], impatient, "2024-01-01")).lower()
        started = time.monotonic()
        assert _run([events], DuckDBTableIOManager(database=str(db)), "2024-01-01").success
        assert time.monotonic() - started > 0.5  # it waited for the holder to exit, then wrote
    finally:
        holder.kill()
        holder.wait()
    assert _by_day(db) == {"2024-01-01": (3, 1, 1)}


# ---------------------------------------------------------------- parquet, local


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", KINDS)
def test_parquet_local_round_trip(tmp_path: Path, kind: str) -> None:
    base = tmp_path / "pq"
    iom = ParquetIOManager(base=str(base))
    assert _run([events], iom, "2024-01-01", kind=kind).success
    assert _run([events], iom, "2024-01-02", kind=kind, rows=2).success
    result = _run([events], iom, "2024-01-01", kind=kind, rows=4, version=2)
    assert result.success
    meta = _meta(result)
    assert meta["dagster/row_count"] == meta["dagster/partition_row_count"] == 4
    assert meta["uri"] == str(base / "fam" / "events" / "2024-01-01.parquet")
    assert [c.name for c in meta["dagster/column_schema"].columns] == ["day", "n", "v"]
    assert [c.description for c in meta["dagster/column_schema"].columns] == ["the day", "row", None]
    assert pl.read_parquet(base / "fam/events/2024-01-01.parquet")["v"].to_list() == [2] * 4

    # The downstream sees the two stored partitions; the others are allowed missing only when the input says so.
    assert "missing" in failure_text(_run([events, summary], iom, select=[summary.key]))

    @dg.asset(key=["fam", "summary"], ins={"events": dg.AssetIn(EVENTS, metadata={"allow_missing_partitions": True})})
    def tolerant_summary(events: pl.DataFrame) -> pl.DataFrame:
        return events.group_by("day").agg(pl.len().alias("rows"), pl.col("v").max()).sort("day")

    assert _run([events, tolerant_summary], iom, select=[tolerant_summary.key]).success
    assert _files(base) == ["fam/events/2024-01-01.parquet", "fam/events/2024-01-02.parquet", "fam/summary.parquet"]
    assert pl.read_parquet(base / "fam/summary.parquet").select("rows", "v").rows() == [(4, 2), (2, 1)]


def test_parquet_local_failed_write_leaves_the_previous_file(tmp_path: Path) -> None:
    base = tmp_path / "pq"
    iom = ParquetIOManager(base=str(base))
    assert _run([events], iom, "2024-01-01").success
    target = base / "fam/events/2024-01-01.parquet"
    before = target.read_bytes()
    assert "boom mid-write" in failure_text(_run([events], iom, "2024-01-01", kind="sql_fail", rows=5))
    assert "fall outside" in failure_text(_run([events], iom, "2024-01-01", version=5, shift_days=1))
    assert target.read_bytes() == before
    assert _files(base) == ["fam/events/2024-01-01.parquet"]  # no temp file left behind


def test_parquet_range_run_writes_one_file_per_partition(tmp_path: Path) -> None:
    base = tmp_path / "pq"
    iom = ParquetIOManager(base=str(base))
    tags = {"dagster/asset_partition_range_start": "2024-01-03", "dagster/asset_partition_range_end": "2024-01-05"}
    for kind in ("polars", "sql"):
        result = _run([events], iom, tags=tags, kind=kind, rows=2)
        assert result.success, kind
        assert _meta(result)["dagster/row_count"] == 6
    for day in ("2024-01-03", "2024-01-04", "2024-01-05"):
        assert pl.read_parquet(base / f"fam/events/{day}.parquet")["day"].cast(pl.String).to_list() == [day] * 2

    # A range input concatenates its partitions; the downstream partition sees its own file only.
    range_tags = {
        "dagster/asset_partition_range_start": "2024-01-04",
        "dagster/asset_partition_range_end": "2024-01-05",
    }
    ranged = dg.materialize(
        [events, daily_copy], resources={"io_manager": iom}, selection=[daily_copy.key], tags=range_tags
    )
    assert ranged.success
    assert _files(base / "fam/daily_copy") == ["2024-01-04.parquet", "2024-01-05.parquet"]

    # Rows of a day outside the range are refused and nothing is replaced.
    before = {p: p.read_bytes() for p in (base / "fam/events").iterdir()}
    assert "fall outside" in failure_text(_run([events], iom, tags=tags, version=7, shift_days=2))
    assert {p: p.read_bytes() for p in (base / "fam/events").iterdir()} == before


def test_parquet_sqlframe_input_reads_nothing_into_python(tmp_path: Path) -> None:
    iom = ParquetIOManager(base=str(tmp_path / "pq"))
    for day in [d.isoformat() for d in (date(2024, 1, 1) + timedelta(days=i) for i in range(7))]:
        assert _run([events], iom, day, rows=2).success
    assert _run([events, counts], iom, select=[counts.key]).success
    assert pl.read_parquet(tmp_path / "pq/fam/counts.parquet")["rows"].to_list() == [2] * 7

    @dg.asset(key=["fam", "lazy_total"], ins={"events": dg.AssetIn(EVENTS)})
    def lazy_total(events: pl.LazyFrame) -> pl.DataFrame:
        assert isinstance(events, pl.LazyFrame)
        return events.select(pl.len().alias("rows")).collect()

    assert _run([events, lazy_total], iom, select=[lazy_total.key]).success
    assert pl.read_parquet(tmp_path / "pq/fam/lazy_total.parquet")["rows"].to_list() == [14]


# ---------------------------------------------------------------- source digests, summaries, input options

IDS = dg.AssetKey(["fam", "ids"])


class Sourced(dg.Config):
    source: str | None = "a"
    version: int = 1


@dg.asset(
    key=IDS,
    metadata={SUMMARY_SQL: "SELECT count(*) FILTER (WHERE n % 2 = 0) AS even FROM value", PREVIEW_COLUMNS: 1},
)
def ids(config: Sourced) -> SqlFrame:
    return SqlFrame(f"SELECT range AS n, {config.version} AS v FROM range(4)", source=config.source)


@dg.asset(key=["fam", "ids_columns"], ins={"ids": dg.AssetIn(IDS, metadata={COLUMNS: ["n"], ALLOW_MISSING: True})})
def ids_columns(ids: pa.Table | None) -> pa.Table:
    """The columns it was given (only those asked for), or "missing" when nothing is stored."""
    return pa.table({"columns": ["missing" if ids is None else ",".join(ids.column_names)]})


@dg.asset(key=["fam", "ids_query"], ins={"ids": dg.AssetIn(IDS)})
def ids_query(ids: SqlFrame) -> pa.Table:
    """A SqlFrame input carries the stored source digest and where the query runs."""
    with duckdb.connect(ids.database or ":memory:", read_only=ids.database is not None) as conn:
        (total,) = conn.execute(f"SELECT sum(v) FROM ({ids.sql})").fetchone()
    return pa.table({"source": [ids.source], "total": [int(total)]})


def _ids(io_manager, source: str | None, version: int) -> dict:
    result = dg.materialize(
        [ids],
        resources={"io_manager": io_manager},
        run_config=dg.RunConfig({"fam__ids": Sourced(source=source, version=version)}),
    )
    return _meta(result, "fam__ids")


def _reader(io_manager, asset) -> dict:
    result = dg.materialize([ids, asset], resources={"io_manager": io_manager}, selection=[asset.key])
    assert result.success
    return result.output_for_node(asset.key.to_python_identifier()).to_pylist()[0]


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_a_value_stored_from_the_same_source_is_kept(tmp_path: Path, kind: str) -> None:
    database = tmp_path / "warehouse.duckdb"
    iom = io_manager_from_settings(kind, database=database, base=tmp_path / "assets")
    assert _reader(iom, ids_columns) == {"columns": "missing"}  # allow_missing: None, not an error
    first = _ids(iom, "a", 1)
    assert first["rewritten"] is True and first["dagster/row_count"] == 4 and first["even"] == 2
    assert first["preview"].startswith("| n |")  # preview_columns=1: the first column only
    again = _ids(iom, "a", 2)  # same source: nothing evaluated, the stored rows (v = 1) kept
    assert again["rewritten"] is False and again["dagster/row_count"] == 4 and again["even"] == 2
    assert _reader(iom, ids_query) == {"source": "a", "total": 4}
    assert _reader(iom, ids_columns) == {"columns": "n"}  # only the columns asked for
    assert _ids(iom, "b", 2)["rewritten"] is True
    assert _reader(iom, ids_query) == {"source": "b", "total": 8}
    unsourced = _ids(iom, None, 3)  # no digest: always written, and the stored digest forgotten
    assert "rewritten" not in unsourced
    assert _reader(iom, ids_query) == {"source": None, "total": 12}
    assert _ids(iom, "b", 4)["rewritten"] is True


# ---------------------------------------------------------------- parquet on S3 (moto)


def test_parquet_on_s3(tmp_path: Path, s3_server, bucket: str, aws_env: dict[str, str]) -> None:
    staging = tmp_path / "staging"
    iom = io_manager_from_settings(
        "parquet", base=f"s3://{bucket}/warehouse", endpoint_url=s3_server.endpoint_url, staging_dir=staging
    )
    assert isinstance(iom, ParquetIOManager)
    assert _run([events], iom, "2024-01-01", kind="polars").success
    written = _run([events], iom, "2024-01-02", kind="sql", rows=2)
    assert written.success
    assert _meta(written)["uri"] == f"s3://{bucket}/warehouse/fam/events/2024-01-02.parquet"
    assert _run([events], iom, "2024-01-01", kind="arrow", version=2, rows=4).success
    assert "boom" in failure_text(_run([events], iom, "2024-01-02", kind="sql_fail"))  # the object is not touched
    assert _ids(iom, "a", 1)["rewritten"] is True
    kept = _ids(iom, "a", 2)  # the digest is the object's metadata: nothing downloaded or uploaded
    assert kept["rewritten"] is False and kept["dagster/row_count"] == 4
    assert _ids(iom, "b", 2)["rewritten"] is True
    # A SqlFrame input reads a local copy of the object (DuckDB has no S3 without httpfs), fetched again only when
    # the object changed.
    copy = staging / "s3" / bucket / "warehouse" / "fam" / "ids.parquet"
    assert _reader(iom, ids_query) == {"source": "b", "total": 8} and copy.is_file()
    assert _ids(iom, "c", 3)["rewritten"] is True
    assert _reader(iom, ids_query) == {"source": "c", "total": 12}

    tags = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-02"}
    down = dg.materialize([events, daily_copy], resources={"io_manager": iom}, selection=[daily_copy.key], tags=tags)
    assert down.success

    objects = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in objects) == [
        "warehouse/fam/daily_copy/2024-01-01.parquet",
        "warehouse/fam/daily_copy/2024-01-02.parquet",
        "warehouse/fam/events/2024-01-01.parquet",
        "warehouse/fam/events/2024-01-02.parquet",
        "warehouse/fam/ids.parquet",
        "warehouse/fam/ids_query.parquet",  # the reader's own output
    ]
    body = s3_server.client().get_object(Bucket=bucket, Key="warehouse/fam/daily_copy/2024-01-02.parquet")["Body"]
    local = tmp_path / "copy.parquet"
    local.write_bytes(body.read())
    assert pl.read_parquet(local).select("n", "v").rows() == [(0, 1), (1, 1)]  # the failed write left version 1

    with pytest.raises(Exception, match="missing"):
        dg.materialize([events, summary], resources={"io_manager": iom}, selection=[summary.key])

    events_text = json.dumps([str(e) for e in down.all_events] + [str(e) for e in written.all_events])
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in events_text
    assert aws_env["AWS_SECRET_ACCESS_KEY"] not in json.dumps(iom.model_dump())


# ---------------------------------------------------------------- the factory


def test_io_manager_from_settings(tmp_path: Path) -> None:
    duck = io_manager_from_settings("duckdb", database=tmp_path / "wh.duckdb", connection_config={"threads": 2})
    assert isinstance(duck, DuckDBTableIOManager) and duck.connection_config == {"threads": 2}
    local = io_manager_from_settings("parquet", base=tmp_path / "pq", database=tmp_path / "wh.duckdb")
    assert isinstance(local, ParquetIOManager) and local.database == str(tmp_path / "wh.duckdb")
    with pytest.raises(ValueError, match="needs database"):
        io_manager_from_settings("duckdb")
    with pytest.raises(ValueError, match="needs base"):
        io_manager_from_settings("parquet")
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        io_manager_from_settings("parquet", base="s3://")
    with pytest.raises(ValueError, match="unknown IO manager kind 'csv'"):
        io_manager_from_settings("csv", base=tmp_path)


def test_table_ref_and_sqlframe() -> None:
    assert str(table_ref(dg.AssetKey(["fam", "x"]))) == "fam.x"
    assert str(table_ref(dg.AssetKey(["x"]))) == "main.x"
    assert str(table_ref(dg.AssetKey(["a", "b", "x"]))) == "a_b.x"
    assert str(table_ref(dg.AssetKey(["fam", "x"]), {"schema": "other"})) == "other.x"
    assert table_ref(dg.AssetKey(['fa"m', "x"])).sql == '"fa""m"."x"'
    assert SqlFrame(" SELECT 1; ").sql == "SELECT 1"
    with pytest.raises(ValueError):
        SqlFrame(" ; ")

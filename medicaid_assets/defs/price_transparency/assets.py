"""Price-transparency assets: each payer's table of contents, and each in-network file normalized into tables.

``payer_toc`` (one partition per payer) lists the in-network files and adds one dynamic partition per file.
``in_network`` (one partition per payer × file) resolves the payer's ToC again in the same run (signed links
expire), downloads the file, streams it through the normalizer into staged parquet, and hands four tables to the
IO manager (parquet or DuckDB, ``price_transparency.<table>``, partitioned by ``file_key``). A failure or a kill
before the IO manager writes leaves the previous partition untouched; staged parts are wiped at the next start.
"""

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from medicaid_assets.dagster_kit.charts import category_counts_png, image_metadata
from medicaid_assets.dagster_kit.io_managers import PARTITION_EXPR, PREVIEW_COLUMNS, SqlFrame
from medicaid_assets.dagster_kit.metadata import OWNERS, column_schema
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.defs.price_transparency.columns import DESCRIPTIONS
from medicaid_assets.defs.price_transparency.containers import UnsafeFileError, container_of, open_chunks
from medicaid_assets.defs.price_transparency.keys import (
    FILE_KEY,
    FILE_PARTITIONS,
    FILES,
    GROUP,
    ORGANIZATIONS,
    PAYER_KEY,
    PAYER_QUALITY,
    PAYER_TOC,
    PROVIDERS,
    RATES,
    STRUCTURE,
    file_partitions,
    payer_partitions,
)
from medicaid_assets.defs.price_transparency.normalize import (
    ORGANIZATIONS_SCHEMA,
    PROVIDERS_SCHEMA,
    RATES_SCHEMA,
    FileConfig,
    Normalizer,
)
from medicaid_assets.defs.price_transparency.quality import FILES_SCHEMA, PAYER_QUALITY_SQL, QUALITY_CHECKS, file_row
from medicaid_assets.defs.price_transparency.resources import PriceTransparencyResource
from medicaid_assets.defs.price_transparency.safety import UnsafeUrlError
from medicaid_assets.defs.price_transparency.stream import JsonShapeError
from medicaid_assets.defs.price_transparency.structure import analyze
from medicaid_assets.defs.price_transparency.toc import ListedFile, TocError, parse_toc

TAGS = {"source": "payer_mrf"}
TOC_SCHEMA = pa.schema(
    [
        (PAYER_KEY, pa.string()),
        (FILE_KEY, pa.string()),
        ("url", pa.string()),  # without the query: signed URLs expire, the next run fetches a fresh one
        ("description", pa.string()),
        ("plans", pa.int64()),
        ("plan_names", pa.string()),
        ("toc_url", pa.string()),
        ("reporting_entity_name", pa.string()),
        ("toc_version", pa.string()),
        ("toc_last_updated_on", pa.string()),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _schema_of(schema: pa.Schema) -> dg.TableSchema:
    return column_schema({f.name: str(f.type) for f in schema}, DESCRIPTIONS)


def _with_key(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field(FILE_KEY, pa.string()))


def listed_files(pt: PriceTransparencyResource, payer_name: str) -> tuple[object, list[ListedFile]]:
    payer = pt.payer(payer_name)
    try:
        toc, listed = parse_toc(payer.name, pt.fetch_toc(payer))
    except (TocError, UnsafeUrlError) as exc:
        raise dg.Failure(str(exc)) from None
    return toc, listed[: payer.max_files] if payer.max_files is not None else listed


@dg.asset(
    key=PAYER_TOC,
    partitions_def=payer_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    kinds={"json", "http"},
    owners=OWNERS,
    tags=TAGS,
    pool="duckdb",
    metadata={PARTITION_EXPR: PAYER_KEY, PREVIEW_COLUMNS: 5, "dagster/column_schema": _schema_of(TOC_SCHEMA)},
    description=(
        "A payer's table of contents: one row per in-network file it lists (URL without the signed query, plans). "
        "Adds one `price_transparency_files` partition per new file."
    ),
)
def payer_toc(context: dg.AssetExecutionContext, price_transparency: PriceTransparencyResource) -> pa.Table:
    """Every payer of the run's partitions (one, or a range: one run reads every ToC, and the IO manager writes
    one file per payer); a ToC that cannot be read fails the run before any is written."""
    tables = [_toc_table(context, price_transparency, payer) for payer in context.partition_keys]
    return pa.concat_tables(tables)


def _toc_table(
    context: dg.AssetExecutionContext, price_transparency: PriceTransparencyResource, payer: str
) -> pa.Table:
    toc, listed = listed_files(price_transparency, payer)
    known = set(context.instance.get_dynamic_partitions(FILE_PARTITIONS))
    new = [f.file_key for f in listed if f.file_key not in known]
    if new:
        context.instance.add_dynamic_partitions(FILE_PARTITIONS, new)
    context.log.info(f"{payer}: {len(listed)} in-network files listed, {len(new)} new")
    now = datetime.now(UTC)
    return pa.table(
        {
            PAYER_KEY: [payer] * len(listed),
            FILE_KEY: [f.file_key for f in listed],
            "url": [f.url.split("?", 1)[0] for f in listed],
            "description": [f.description for f in listed],
            "plans": [f.plans for f in listed],
            "plan_names": [f.plan_names for f in listed],
            "toc_url": [price_transparency.payer(payer).toc_url] * len(listed),
            "reporting_entity_name": [toc.reporting_entity_name] * len(listed),
            "toc_version": [toc.version] * len(listed),
            "toc_last_updated_on": [toc.last_updated_on] * len(listed),
            "fetched_at": [now] * len(listed),
        },
        schema=TOC_SCHEMA,
    )


def _out(key: dg.AssetKey, schema: pa.Schema, description: str) -> dg.AssetOut:
    return dg.AssetOut(
        key=key,
        group_name=GROUP,
        kinds={"parquet", "duckdb"},
        owners=OWNERS,
        tags=TAGS,
        description=description,
        metadata={PARTITION_EXPR: FILE_KEY, PREVIEW_COLUMNS: 8, "dagster/column_schema": _schema_of(schema)},
    )


def _download_suffix(url: str) -> str:
    name = PurePosixPath(urlsplit(url).path).name
    return "".join(s for s in PurePosixPath(name).suffixes if s in (".json", ".gz", ".zip", ".7z")) or ".json"


@dg.multi_asset(
    outs={
        "rates": _out(
            RATES,
            _with_key(RATES_SCHEMA),
            "Negotiated rates: one row per billing code × price × provider group (whitelist applied), with the "
            "original's UUIDv5 ids.",
        ),
        "organizations": _out(
            ORGANIZATIONS, _with_key(ORGANIZATIONS_SCHEMA), "Organizations (TINs) of a file's provider groups."
        ),
        "providers": _out(
            PROVIDERS, _with_key(PROVIDERS_SCHEMA), "NPIs of a file's provider groups, with the group and its TIN."
        ),
        "files": _out(
            FILES,
            FILES_SCHEMA,
            "What was read from each in-network file (URL, bytes, items, rates kept/dropped, version, duration, "
            "errors) and its measured quality.",
        ),
    },
    partitions_def=file_partitions,
    deps=[PAYER_TOC],
    pool="duckdb",
    check_specs=QUALITY_CHECKS,
)
def in_network(
    context: dg.AssetExecutionContext,
    price_transparency: PriceTransparencyResource,
    files: HttpFilesResource,
    data: DataDirResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Stream one in-network file into the four tables; nothing is written unless the whole file was read."""
    key = context.partition_key
    payer_name = key.split("__", 1)[0]
    payer = price_transparency.payer(payer_name)
    _, listed = listed_files(price_transparency, payer_name)  # a fresh ToC: its signed URLs are valid now
    entry = next((f for f in listed if f.file_key == key), None)
    if entry is None:
        raise dg.Failure(f"{key}: the payer's table of contents no longer lists this file; nothing was written")
    layout = data.layout
    staging = layout.price_transparency_staging / key
    shutil.rmtree(staging, ignore_errors=True)  # parts of a killed run: never read
    staging.mkdir(parents=True)
    dest = layout.raw_price_transparency / payer_name / f"{key}{_download_suffix(entry.url)}"
    try:
        price_transparency.check(entry.url)
        download = files.download(entry.url, dest, log=context.log, allow_html=False)
        config = FileConfig(
            payer=payer.name,
            url=entry.url,
            whitelist=payer.whitelist_codes(),
            handler=payer.handler,
            parent_org=payer.parent_org,
            fetch_concurrency=price_transparency.reference_concurrency,
            spool_dir=staging,
        )
        with price_transparency.client() as client:
            config.fetch = price_transparency.reference_fetcher(client)
            summary = _normalize_to_parquet(config, dest, staging, key, price_transparency)
    except (JsonShapeError, UnsafeFileError, UnsafeUrlError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise dg.Failure(f"{key} ({entry.url.split('?', 1)[0]}): {exc}; no output was written") from None
    row, checks = file_row(
        staging, key, payer, entry, summary, container_of(dest), download.size, _download_suffix(entry.url)
    )
    context.log.info(
        f"{key}: {summary.items:,} items, {summary.rate_rows:,} rate rows, {summary.bytes_json / 1e6:,.1f} MB JSON "
        f"in {summary.duration_s:.1f} s, {summary.remote_failed} remote references failed"
    )
    for name, table in (("rates", "rates"), ("organizations", "organizations"), ("providers", "providers")):
        path = (staging / f"{table}.parquet").as_posix().replace("'", "''")
        yield dg.Output(SqlFrame(f"SELECT * FROM read_parquet('{path}')"), output_name=name)
    yield dg.Output(pa.Table.from_pylist([row], schema=FILES_SCHEMA), output_name="files")
    yield from checks
    shutil.rmtree(staging, ignore_errors=True)


def _normalize_to_parquet(config: FileConfig, source, staging, key: str, pt: PriceTransparencyResource):
    schemas = {"rates": RATES_SCHEMA, "organizations": ORGANIZATIONS_SCHEMA, "providers": PROVIDERS_SCHEMA}
    writers = {
        name: pq.ParquetWriter(staging / f"{name}.parquet", _with_key(schema), compression="zstd")
        for name, schema in schemas.items()
    }
    normalizer = Normalizer(config)
    try:
        for batch in normalizer.run(open_chunks(source, pt.limits())):
            for name in schemas:
                table = getattr(batch, name)
                if table is not None and table.num_rows:
                    writers[name].write_table(table.append_column(FILE_KEY, pa.repeat(key, table.num_rows)))
    finally:
        for writer in writers.values():
            writer.close()
    return normalizer.summary


STRUCTURE_SCHEMA = pa.schema(
    [
        (PAYER_KEY, pa.string()),
        (FILE_KEY, pa.string()),
        ("url", pa.string()),
        ("container", pa.string()),
        ("generation", pa.string()),
        ("version", pa.string()),
        ("handler", pa.string()),
        ("remote_references", pa.int64()),
        ("float_reference_ids", pa.int64()),
        ("references_before_in_network", pa.bool_()),
        ("items_with_inline_groups", pa.int64()),
        ("items_with_nested_providers", pa.int64()),
        ("last_updated_on_format", pa.string()),
        ("analysis", pa.string()),  # the whole analysis as JSON
    ]
)


@dg.asset(
    key=STRUCTURE,
    partitions_def=payer_partitions,
    group_name=GROUP,
    kinds={"json"},
    owners=OWNERS,
    tags=TAGS,
    pool="duckdb",
    metadata={PARTITION_EXPR: PAYER_KEY, PREVIEW_COLUMNS: 8, "dagster/column_schema": _schema_of(STRUCTURE_SCHEMA)},
    config_schema={"max_items": dg.Field(int, default_value=50, description="items read per file")},
    description=(
        "Structure analysis of a payer's in-network files (their first items): v1/v2, inline or remote references, "
        "float ids, nested providers, date format, container, and the handler that fits."
    ),
)
def payer_structure(
    context: dg.AssetExecutionContext,
    price_transparency: PriceTransparencyResource,
    files: HttpFilesResource,
    data: DataDirResource,
) -> pa.Table:
    payer = context.partition_key
    _, listed = listed_files(price_transparency, payer)
    rows = []
    for entry in listed:
        price_transparency.check(entry.url)
        dest = data.layout.raw_price_transparency / payer / f"{entry.file_key}{_download_suffix(entry.url)}"
        files.download(entry.url, dest, log=context.log)  # the in-network run reuses this download
        try:
            shape = analyze(open_chunks(dest, price_transparency.limits()), context.op_config["max_items"])
        except (JsonShapeError, UnsafeFileError) as exc:
            shape = {"error": str(exc)}
        rows.append(
            {
                PAYER_KEY: payer,
                FILE_KEY: entry.file_key,
                "url": entry.url.split("?", 1)[0],
                "container": container_of(dest),
                **{k: shape.get(k) for k in STRUCTURE_SCHEMA.names if k in shape},
                "analysis": json.dumps(shape),
            }
        )
    return pa.Table.from_pylist(rows, schema=STRUCTURE_SCHEMA)


@dg.asset(
    key=PAYER_QUALITY,
    ins={"files": dg.AssetIn(FILES)},
    group_name=GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    tags=TAGS,
    pool="duckdb",
    metadata={PREVIEW_COLUMNS: 10},
    description=(
        "Quality per payer, measured over its files: rates kept/dropped, references failed, share of rates whose "
        "provider never resolved, NPIs failing the check digit, unknown code types, odd rates, schema-invalid files. "
        "Its picture, `chart`: rate rows by provider resolution per payer."
    ),
)
def payer_quality(files: pa.Table) -> dg.Output:
    with duckdb.connect() as conn:
        conn.register("value_files", files)
        table = conn.sql(PAYER_QUALITY_SQL).to_arrow_table()
    chart = category_counts_png(
        {
            row[PAYER_KEY]: {
                "rows resolved": row["rate_rows"] - row["rate_rows_unresolved"],
                "rows unresolved": row["rate_rows_unresolved"],
                "refs failed": row["remote_references_failed"],
            }
            for row in table.to_pylist()
        },
        "rate rows by provider resolution, per payer",
    )
    return dg.Output(table, metadata={"chart": image_metadata(chart, "rate rows by provider resolution")})

"""Price-transparency assets: each payer's monthly table of contents, and each in-network file normalized.

``payer_toc`` (one partition per payer × month) lists the in-network files with the version of their content and
adds one dynamic partition per file content not seen before. ``in_network`` (one partition per payer × file ×
content) resolves the payer's ToC again in the same run (signed links expire; a link refused as expired is
resolved once more), downloads the file, streams it through the normalizer into staged parquet, and hands four
tables to the IO manager (parquet or DuckDB, ``price_transparency.<table>``, partitioned by ``file_key``). A
failure or a kill before the IO manager writes leaves the previous partition untouched; staged parts are wiped
at the next start.
"""

import functools
import itertools
import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import dagster as dg
import duckdb
import httpx
import pyarrow as pa

from medicaid_assets.core.download import DownloadError, DownloadResult
from medicaid_assets.dagster_kit.charts import category_counts_png, image_metadata
from medicaid_assets.dagster_kit.io_managers import PARTITION_EXPR, PREVIEW_COLUMNS, SqlFrame
from medicaid_assets.dagster_kit.metadata import OWNERS, column_schema
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.defs.price_transparency.catalog import file_key, url_key_of
from medicaid_assets.defs.price_transparency.columns import DESCRIPTIONS
from medicaid_assets.defs.price_transparency.containers import (
    CHUNK,
    UnsafeFileError,
    container_of,
    kind_of,
    open_chunks,
    stream_chunks,
)
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
    TOC_KEY,
    file_partitions,
    payer_partitions,
    split_toc_partition_key,
    toc_partitions,
)
from medicaid_assets.defs.price_transparency.normalize import (
    ORGANIZATIONS_SCHEMA,
    PROVIDERS_SCHEMA,
    RATES_SCHEMA,
    FileConfig,
    FileSummary,
    Normalizer,
)
from medicaid_assets.defs.price_transparency.parallel import normalize_split, part_queries, write_parts
from medicaid_assets.defs.price_transparency.quality import FILES_SCHEMA, PAYER_QUALITY_SQL, QUALITY_CHECKS, file_row
from medicaid_assets.defs.price_transparency.resources import PriceTransparencyResource
from medicaid_assets.defs.price_transparency.safety import UnsafeUrlError, open_stream
from medicaid_assets.defs.price_transparency.stream import JsonShapeError
from medicaid_assets.defs.price_transparency.structure import analyze
from medicaid_assets.defs.price_transparency.toc import ListedFile, TocError, parse_toc, toc_month
from medicaid_assets.defs.price_transparency.versions import version_of

TAGS = {"source": "payer_mrf"}
TOC_SCHEMA = pa.schema(
    [
        (TOC_KEY, pa.string()),
        (PAYER_KEY, pa.string()),
        ("month", pa.string()),
        (FILE_KEY, pa.string()),
        ("url", pa.string()),  # without the query: signed URLs expire, the next run fetches a fresh one
        ("version", pa.string()),
        ("new_content", pa.bool_()),
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


def listed_with_versions(pt: PriceTransparencyResource, payer_name: str) -> tuple[object, str, list[ListedFile]]:
    """The payer's ToC now, its month, and its files with the version of their content (asked of their server)."""
    toc, listed = listed_files(pt, payer_name)
    try:
        listed = pt.with_versions(listed)
    except (httpx.HTTPError, UnsafeUrlError) as exc:
        raise dg.Failure(f"payer {payer_name}: {exc}; nothing was written") from None
    return toc, toc_month(toc, datetime.now(UTC).date()), listed


@dg.asset(
    key=PAYER_TOC,
    partitions_def=toc_partitions,
    group_name=GROUP,
    kinds={"json", "http"},
    owners=OWNERS,
    tags=TAGS,
    pool="duckdb",
    metadata={PARTITION_EXPR: TOC_KEY, PREVIEW_COLUMNS: 7, "dagster/column_schema": _schema_of(TOC_SCHEMA)},
    description=(
        "A payer's table of contents of one month (`<payer>__<YYYY-MM>`): one row per in-network file it lists "
        "(URL without the signed query, the version of its content, plans). Adds one `price_transparency_files` "
        "partition per file content not seen before; a file listed again unchanged keeps its partition."
    ),
)
def payer_toc(context: dg.AssetExecutionContext, price_transparency: PriceTransparencyResource) -> pa.Table:
    payer, month = split_toc_partition_key(context.partition_key)
    toc, published, listed = listed_with_versions(price_transparency, payer)
    if published != month:
        raise dg.Failure(
            f"payer {payer}: its table of contents is now the one of {published} (last_updated_on "
            f"{toc.last_updated_on!r}), not of {month}: a past month's ToC is no longer published; run the partition "
            f"{payer}__{published}. Nothing was written."
        )
    known = set(context.instance.get_dynamic_partitions(FILE_PARTITIONS))
    new = [f.file_key for f in listed if f.file_key not in known]
    if new:
        context.instance.add_dynamic_partitions(FILE_PARTITIONS, new)
    context.log.info(f"{payer} {month}: {len(listed)} in-network files listed, {len(new)} new contents")
    now = datetime.now(UTC)
    n = len(listed)
    return pa.table(
        {
            TOC_KEY: [context.partition_key] * n,
            PAYER_KEY: [payer] * n,
            "month": [month] * n,
            FILE_KEY: [f.file_key for f in listed],
            "url": [f.url.split("?", 1)[0] for f in listed],
            "version": [f.version for f in listed],
            "new_content": [f.file_key in new for f in listed],
            "description": [f.description for f in listed],
            "plans": [f.plans for f in listed],
            "plan_names": [f.plan_names for f in listed],
            "toc_url": [price_transparency.payer(payer).toc_url] * n,
            "reporting_entity_name": [toc.reporting_entity_name] * n,
            "toc_version": [toc.version] * n,
            "toc_last_updated_on": [toc.last_updated_on] * n,
            "fetched_at": [now] * n,
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
    layout = data.layout
    staging = layout.price_transparency_staging / key
    shutil.rmtree(staging, ignore_errors=True)  # parts of a killed run: never read
    staging.mkdir(parents=True)
    try:
        entry, dest, download = _fetch_listed(context, price_transparency, files, data, key)
    except UnsafeUrlError as exc:  # a listed URL refused before anything was read
        shutil.rmtree(staging, ignore_errors=True)
        raise dg.Failure(f"{key}: {_unsigned(str(exc))}; no output was written") from None
    try:
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
            summary, tables = _normalize_to_parquet(config, dest, staging, key, price_transparency)
    except (JsonShapeError, UnsafeFileError, UnsafeUrlError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise dg.Failure(f"{key} ({entry.url.split('?', 1)[0]}): {exc}; no output was written") from None
    row, checks = file_row(
        tables, key, payer, entry, summary, container_of(dest), download.size, _download_suffix(entry.url)
    )
    context.log.info(
        f"{key}: {summary.items:,} items, {summary.rate_rows:,} rate rows, {summary.bytes_json / 1e6:,.1f} MB JSON "
        f"in {summary.duration_s:.1f} s ({summary.processes} process{'es' if summary.processes > 1 else ''}), "
        f"{summary.remote_failed} remote references failed"
    )
    for name in ("rates", "organizations", "providers"):
        yield dg.Output(SqlFrame(tables[name]), output_name=name)
    yield dg.Output(pa.Table.from_pylist([row], schema=FILES_SCHEMA), output_name="files")
    yield from checks
    shutil.rmtree(staging, ignore_errors=True)


_EXPIRED = re.compile(r": HTTP (401|403)\b")  # how S3/CloudFront refuse a signed link past its Expires


def _unsigned(text: str) -> str:
    """``text`` without the query of any URL in it: signatures stay out of logs and errors."""
    return re.sub(r"\?[^\s:;,)]*", "", text)


def _fetch_listed(
    context: dg.AssetExecutionContext,
    pt: PriceTransparencyResource,
    files: HttpFilesResource,
    data: DataDirResource,
    key: str,
) -> tuple[ListedFile, Path, DownloadResult]:
    """Download the file of partition ``key`` through a link from a fresh ToC; a link refused as expired (the ToC
    took long, or the payer's clock runs ahead) is resolved once more from a newer ToC."""
    payer_name, wanted = key.split("__", 1)[0], url_key_of(key)

    def resolve() -> tuple[ListedFile, Path]:
        _, listed = listed_files(pt, payer_name)  # a fresh ToC: its signed URLs are valid now
        entry = next((f for f in listed if f.url_key == wanted), None)
        if entry is None:
            raise dg.Failure(f"{key}: the payer's table of contents no longer lists this file; nothing was written")
        pt.check(entry.url)
        return entry, data.layout.raw_price_transparency / payer_name / f"{key}{_download_suffix(entry.url)}"

    entry, dest = resolve()
    try:
        download = files.download(entry.url, dest, log=context.log, allow_html=False, guard=pt.check)
    except DownloadError as exc:
        if not _EXPIRED.search(str(exc)):
            raise dg.Failure(f"{key}: {_unsigned(str(exc))}; nothing was written") from None
        context.log.warning(f"{key}: the signed link was refused ({_unsigned(str(exc))}); resolving the ToC again")
        entry, dest = resolve()
        try:
            download = files.download(entry.url, dest, log=context.log, allow_html=False, guard=pt.check)
        except DownloadError as again:
            raise dg.Failure(
                f"{key}: {_unsigned(str(again))}, with a link from a ToC fetched again; nothing was written"
            ) from None
    found = file_key(wanted, version_of(download.etag, download.last_modified, download.size))
    if found != key:
        raise dg.Failure(
            f"{key}: the payer rewrote this file since its ToC was read (its content is now partition {found}, "
            "which the next ToC run adds); nothing was written"
        )
    return entry, dest, download


def _with_file_key(key: str, table: pa.Table) -> pa.Table:
    return table.append_column(FILE_KEY, pa.repeat(key, table.num_rows))


def _normalize_to_parquet(
    config: FileConfig, source: Path, staging: Path, key: str, pt: PriceTransparencyResource
) -> tuple[FileSummary, dict[str, str]]:
    """The file's tables staged as parquet: the summary and a query per table over the staged files. A large plain
    ``.json`` is split over ``pt.workers`` processes (``parallel.py``); anything else streams in this process."""
    add_key = functools.partial(_with_file_key, key)
    limits = pt.limits()
    size = source.stat().st_size
    if pt.workers > 1 and container_of(source) == "json" and pt.split_min_bytes <= size <= limits.max_json_bytes:
        split = normalize_split(source, config, staging, workers=pt.workers, extra=add_key)
        if split is not None:
            return split
    normalizer = Normalizer(config)
    write_parts(normalizer.run(open_chunks(source, limits)), staging, add_key)
    return normalizer.summary, part_queries([staging], [normalizer.summary.items])


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
) -> dg.Output:
    payer = context.partition_key
    _, listed = listed_files(price_transparency, payer)
    rows = []
    for entry in listed:
        try:
            container, version, shape = _structure_of(price_transparency, files, data, context, entry)
        except (httpx.HTTPError, DownloadError, UnsafeUrlError) as exc:
            container, version, shape = None, "", {"error": _unsigned(str(exc))}
        rows.append(
            {
                PAYER_KEY: payer,
                FILE_KEY: file_key(entry.url_key, version),
                "url": entry.url.split("?", 1)[0],
                "container": container,
                **{k: shape.get(k) for k in STRUCTURE_SCHEMA.names if k in shape},
                "analysis": json.dumps({"container": container, **shape}),
            }
        )
    analyses = {row[FILE_KEY]: json.loads(row["analysis"]) for row in rows}
    return dg.Output(
        pa.Table.from_pylist(rows, schema=STRUCTURE_SCHEMA), metadata={"analysis": dg.MetadataValue.json(analyses)}
    )


def _structure_of(
    pt: PriceTransparencyResource,
    files: HttpFilesResource,
    data: DataDirResource,
    context: dg.AssetExecutionContext,
    entry: ListedFile,
) -> tuple[str, str, dict[str, object]]:
    """(container, version, shape) of one file from its first items: ``.json``/``.json.gz`` read over HTTP only as
    far as those items (never the whole file); a zip or 7z (its directory is at its end) downloaded first."""
    max_items = context.op_config["max_items"]
    name = entry.url.split("?", 1)[0]
    with pt.client() as client, open_stream(client, entry.url, allow_private=pt.allow_private_urls) as response:
        body = response.iter_bytes(CHUNK)
        head = next(body, b"")
        kind = kind_of(head)
        h = response.headers
        if kind in ("json", "gzip"):
            version = version_of(h.get("etag"), h.get("last-modified"), int(h.get("content-length") or 0) or None)
            try:
                return (
                    kind,
                    version,
                    analyze(stream_chunks(name, itertools.chain([head], body), pt.limits()), max_items),
                )
            except (JsonShapeError, UnsafeFileError) as exc:
                return kind, version, {"error": str(exc)}
    dest = (
        data.layout.raw_price_transparency
        / entry.url_key.split("__", 1)[0]
        / f"{entry.url_key}{_download_suffix(name)}"
    )
    got = files.download(entry.url, dest, log=context.log)
    version = version_of(got.etag, got.last_modified, got.size)
    try:
        return container_of(dest), version, analyze(open_chunks(dest, pt.limits()), max_items)
    except (JsonShapeError, UnsafeFileError) as exc:
        return container_of(dest), version, {"error": str(exc)}


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

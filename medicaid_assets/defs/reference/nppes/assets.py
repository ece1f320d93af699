"""NPPES bulk bundles (monthly, and weekly as dynamic partitions) and the provider tables they feed in DuckDB.

Files: each bundle zip is kept under ``raw/nppes/{monthly,weekly}/`` and extracted beside it into
``<zip stem>/``; ``<zip stem>.extracted.json`` records which zip (sha256) the folder came from, so an
unchanged bundle is neither downloaded nor extracted again. ``raw/nppes/monthly/current.json`` names
the newest monthly bundle whose headers passed the check: the one the provider table is built from.

Tables: ``nppes_providers`` (one row per NPI) and the side tables ``nppes_other_names``,
``nppes_practice_locations``, ``nppes_endpoints`` (keyed by ``npi``), plus ``nppes_applied_bundles``
(which monthly and weeklies they hold). Every record carries ``source_file``/``source_kind``/
``source_date``; the newest record of an NPI wins, so weeklies may be applied in any order and again.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
from duckdb import DuckDBPyConnection
from pydantic import Field

from medicaid_assets.core.download import DownloadResult, file_name_from_url
from medicaid_assets.core.safe_zip import check_archive, extract_zip
from medicaid_assets.core.stamps import current_extraction, extraction_stamp, read_json, write_json
from medicaid_assets.core.values import sql_string
from medicaid_assets.dagster_kit.metadata import OWNERS, column_schema, markdown_table, table_metadata
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.dagster_kit.resources.warehouse import WarehouseResource
from medicaid_assets.defs.reference.nppes.bundles import (
    APPLIED_BUNDLES_DDL,
    DROP_REJECTS_SQL,
    REJECTED_LINES_SQL,
    SIDE_TABLES,
    V2_HEADER_SOURCE,
    BundleFiles,
    NppesBundleError,
    NppesLinks,
    bundle_key,
    count_data_lines,
    describe_differences,
    find_bundle_files,
    header_differences,
    parse_files_page,
    provider_select_sql,
    read_header,
    side_select_sql,
    side_table_ddl,
    weekly_url,
)
from medicaid_assets.defs.reference.nppes.keys import (
    GROUP,
    MONTHLY_BUNDLE,
    PROVIDER_TABLE,
    PROVIDERS,
    WEEKLY_BUNDLE,
    WEEKLY_UPDATE,
    nppes_weekly_partitions,
)

CURRENT_MONTHLY = "current.json"
TABLES = (PROVIDER_TABLE, *(side.table for side in SIDE_TABLES))
NEW = "__new"  # suffix of the tables a monthly build fills before swapping them in


class NppesLoadError(RuntimeError):
    """A load refused before anything was committed (unparseable or duplicated rows); the message says where."""


class NppesLoadConfig(dg.Config):
    max_rejected_rows: int = Field(
        default=0,
        description="Lines DuckDB cannot parse that a load tolerates (skipped, listed in metadata); above it, "
        "the load is refused and the tables stay as they were.",
    )
    memory_limit: str = Field(
        default="2GB",
        description="DuckDB memory_limit for the load; beyond it DuckDB spills to <data dir>/tmp/duckdb. The default "
        "keeps the whole step under 3 GB of RSS at any scale (the monthly file's 9.4M rows included).",
    )


class NppesBuildConfig(NppesLoadConfig):
    force: bool = Field(
        default=False, description="Rebuild even when the table was already built from this monthly bundle."
    )


# -- bundles -----------------------------------------------------------------------------------------


def files_page_links(
    files: HttpFilesResource, page_url: str, timeout: float | None = None, attempts: int | None = None
) -> NppesLinks:
    """The V2 links of the NPPES files page (retried on 429/5xx and transport errors, ``attempts`` defaulting to the
    resource's; the sensor asks once); an error names the page and what went wrong."""
    try:
        response = files.get_page(page_url, attempts=attempts, timeout=timeout)
    except httpx.HTTPError as exc:
        raise NppesBundleError(
            f"{page_url}: the files page could not be fetched ({type(exc).__name__}: {exc})"
        ) from exc
    if response.status_code != 200:
        raise NppesBundleError(f"{page_url}: HTTP {response.status_code} {response.reason_phrase} for the files page")
    return parse_files_page(response.text, str(response.url))


def _read_json(path: Path) -> dict:
    return read_json(path)


def _write_json(path: Path, payload: dict) -> None:
    write_json(path, payload)


def _zip_sha256(folder: Path) -> str | None:
    """The sha256 of the zip ``folder`` was last extracted from (its extraction stamp), if any."""
    return extraction_stamp(folder).kept().get("zip_sha256")


def _fetch_bundle(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, url: str, parent: Path
) -> tuple[DownloadResult, dict, bool]:
    """Download ``url`` into ``parent`` and extract it to ``parent/<zip stem>/`` unless already extracted from it."""
    dest = parent / file_name_from_url(url)
    folder = parent / bundle_key(url)
    result = files.download(
        url, dest, log=context.log, validate=lambda path: check_archive(path, data.max_extract_bytes)
    )
    built_from = {"zip_sha256": result.sha256}
    marker = current_extraction(folder, built_from)
    if marker is not None:
        return result, marker, False
    report = extract_zip(dest, folder, max_bytes=data.max_extract_bytes)
    marker = extraction_stamp(folder).record(
        built_from,
        zip_sha256=result.sha256,
        files=sorted(str(p.relative_to(folder)) for p in report.files),
        bytes=report.bytes,
        extracted_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    context.log.info(f"extracted {len(report.files)} files ({report.bytes:,} bytes) to {folder}")
    return result, marker, True


def _primary_rows(bundle: BundleFiles, marker: dict) -> int:
    """Data lines of the npidata CSV, counted once per extraction and kept in the marker (the monthly one is ~10 GB)."""
    if "primary_rows" not in marker:
        marker["primary_rows"] = count_data_lines(bundle.primary)
        extraction_stamp(bundle.folder).record({"zip_sha256": marker["zip_sha256"]}, **marker)
    return marker["primary_rows"]


def _bundle_result(
    result: DownloadResult, marker: dict, extracted_now: bool, bundle: BundleFiles, differences: dict
) -> dg.MaterializeResult:
    described = describe_differences(differences)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": _primary_rows(bundle, marker),
            "dagster/column_schema": column_schema(dict.fromkeys(read_header(bundle.primary), "VARCHAR")),
            "source_url": dg.MetadataValue.url(result.url),
            "zip": dg.MetadataValue.path(result.path),
            "bytes": result.size,
            "sha256": result.sha256,
            "etag": result.etag or "",
            "last_modified": result.last_modified or "",
            "reused_existing_zip": result.reused,
            "extracted_now": extracted_now,
            "extracted_files": marker["files"],
            "extracted_bytes": marker["bytes"],
            "folder": dg.MetadataValue.path(str(bundle.folder)),
            "primary_csv": bundle.primary.name,
            "side_files": sorted(p.name for p in bundle.sides.values()),
            "source_date": bundle.source_date.isoformat(),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="v2_header",
                passed=not differences,
                metadata={"difference": described or "none", "expected": V2_HEADER_SOURCE},
                description=f"Headers differ from the known V2 layout: {described}" if differences else None,
            )
        ],
        data_version=dg.DataVersion(result.sha256),
    )


HEADER_CHECK = (
    "Every CSV of the bundle (npidata and side files) has exactly the known V2 header; a renamed, missing, extra "
    "or moved column fails the check, which names it with its position."
)


@dg.asset(
    key=MONTHLY_BUNDLE,
    group_name=GROUP,
    kinds={"zip", "http"},
    owners=OWNERS,
    tags={"source": "cms"},
    description="The newest monthly NPPES V2 bundle (full replacement, ~1.1 GB zip, ~9.4M providers), found on "
    "the files page or pinned, kept and extracted under raw/nppes/monthly/.",
    check_specs=[dg.AssetCheckSpec("v2_header", asset=MONTHLY_BUNDLE, blocking=True, description=HEADER_CHECK)],
)
def nppes_monthly_bundle(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
) -> dg.MaterializeResult:
    """Only a bundle whose headers pass becomes ``current.json``, so a changed layout never reaches the table."""
    url = sources.nppes_monthly_url
    if not url:
        monthly = files_page_links(files, sources.nppes_files_page_url).monthly
        if not monthly:
            raise NppesBundleError(f"{sources.nppes_files_page_url}: no monthly NPPES V2 zip link on the files page")
        url = monthly[0]
    result, marker, extracted_now = _fetch_bundle(context, files, data, url, data.layout.nppes_monthly)
    bundle = find_bundle_files(data.layout.nppes_monthly / bundle_key(url))
    differences = header_differences(bundle)
    if differences:
        context.log.error(f"{bundle.folder}: {describe_differences(differences)}; the provider table keeps its data")
    else:
        current = {"bundle_key": bundle_key(url), "url": url, "zip_sha256": result.sha256}
        _write_json(data.layout.nppes_monthly / CURRENT_MONTHLY, current)
    return _bundle_result(result, marker, extracted_now, bundle, differences)


@dg.asset(
    key=WEEKLY_BUNDLE,
    partitions_def=nppes_weekly_partitions,
    # Each weekly bundle updates the monthly one before it. The edge also keeps the UI's "Materialize all" on the
    # global lineage launchable (no partitioned root: see dagster_kit/launchability.py).
    deps=[MONTHLY_BUNDLE],
    group_name=GROUP,
    kinds={"zip", "http"},
    owners=OWNERS,
    tags={"source": "cms"},
    description="One weekly NPPES V2 bundle (new, changed and deactivated NPIs of a week) per partition; the key is "
    "the zip stem, e.g. NPPES_Data_Dissemination_110926_111526_Weekly_V2. Kept and extracted under raw/nppes/weekly/.",
    check_specs=[dg.AssetCheckSpec("v2_header", asset=WEEKLY_BUNDLE, blocking=True, description=HEADER_CHECK)],
)
def nppes_weekly_bundle(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
) -> dg.MaterializeResult:
    """The URL comes from the key (the zip sits beside the files page), or the pinned weekly URL when it matches."""
    key = context.partition_key
    pinned = sources.nppes_weekly_url
    url = pinned if pinned and bundle_key(pinned) == key else weekly_url(sources.nppes_files_page_url, key)
    result, marker, extracted_now = _fetch_bundle(context, files, data, url, data.layout.nppes_weekly)
    bundle = find_bundle_files(data.layout.nppes_weekly / key)
    differences = header_differences(bundle)
    if differences:
        context.log.error(f"{bundle.folder}: {describe_differences(differences)}; it will not be applied")
    return _bundle_result(result, marker, extracted_now, bundle, differences)


# -- tables ------------------------------------------------------------------------------------------


def _checked_bundle(folder: Path) -> BundleFiles:
    """The bundle extracted in ``folder``, refused (before any table changes) when a header differs."""
    if not extraction_stamp(folder).file.is_file() or not folder.is_dir():
        raise NppesBundleError(f"{folder}: bundle not downloaded and extracted; materialize its raw/ asset first")
    bundle = find_bundle_files(folder)
    differences = header_differences(bundle)
    if differences:
        raise NppesBundleError(
            f"{folder}: headers differ from the known V2 layout ({V2_HEADER_SOURCE}): "
            f"{describe_differences(differences)}; nothing was loaded"
        )
    return bundle


def _configure(conn: DuckDBPyConnection, data: DataDirResource, config: NppesLoadConfig) -> None:
    """Bounded memory: DuckDB spills to a folder under the data dir instead of growing past the limit."""
    spill = data.layout.duckdb_temp
    spill.mkdir(parents=True, exist_ok=True)
    conn.execute(f"SET memory_limit = {sql_string(config.memory_limit)}")
    conn.execute(f"SET temp_directory = {sql_string(str(spill))}")
    conn.execute("SET preserve_insertion_order = false")
    conn.execute(APPLIED_BUNDLES_DDL)
    conn.execute(DROP_REJECTS_SQL)


def _table_exists(conn: DuckDBPyConnection, name: str) -> bool:
    query = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary"
    return conn.execute(query, [name]).fetchone()[0] > 0


def _rejected_lines(conn: DuckDBPyConnection, config: NppesLoadConfig) -> list[str]:
    """Every line the loads of this connection could not parse; raises when more than the config tolerates."""
    rejected = [
        f"{Path(f).name} line {line}: {errors}" for f, line, errors in conn.execute(REJECTED_LINES_SQL).fetchall()
    ]
    if len(rejected) > config.max_rejected_rows:
        shown = "; ".join(rejected[:20]) + (f"; and {len(rejected) - 20} more" if len(rejected) > 20 else "")
        raise NppesLoadError(
            f"{len(rejected)} line(s) could not be parsed (tolerated: {config.max_rejected_rows}, run config "
            f"max_rejected_rows): {shown}; nothing was committed"
        )
    return rejected


def _refuse_duplicates(conn: DuckDBPyConnection, table: str, what: str) -> None:
    bad = conn.execute(
        f"SELECT coalesce(npi, '<blank>'), count(*) FROM {table} GROUP BY npi HAVING count(*) > 1 OR npi IS NULL "
        "ORDER BY 2 DESC, 1 LIMIT 10"
    ).fetchall()
    if bad:
        listed = ", ".join(f"{npi} ({n} rows)" for npi, n in bad)
        raise NppesLoadError(f"{what} has blank or repeated NPIs, e.g. {listed}; nothing was committed")


def _apply_weekly(conn: DuckDBPyConnection, bundle: BundleFiles, suffix: str = "") -> dict[str, int]:
    """Replace the rows of the weekly's NPIs (providers and side tables present in the bundle), in the caller's
    transaction; an NPI whose table record is newer than the weekly keeps it (counted as superseded)."""
    providers = f"{PROVIDER_TABLE}{suffix}"
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE nppes_weekly_rows AS "
        + provider_select_sql(bundle.primary, "weekly", bundle.source_date)
    )
    _refuse_duplicates(conn, "nppes_weekly_rows", bundle.primary.name)
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE nppes_weekly_npis AS
        SELECT w.npi FROM nppes_weekly_rows w LEFT JOIN {providers} p ON p.npi = w.npi
        WHERE p.npi IS NULL OR p.source_date <= w.source_date
        """
    )
    touched = "npi IN (SELECT npi FROM nppes_weekly_npis)"
    conn.execute(f"DELETE FROM {providers} WHERE {touched}")
    conn.execute(f"INSERT INTO {providers} SELECT * FROM nppes_weekly_rows WHERE {touched}")
    for side in SIDE_TABLES:
        if side.kind in bundle.sides:  # a weekly without a side file leaves that table alone
            conn.execute(f"DELETE FROM {side.table}{suffix} WHERE {touched}")
            conn.execute(
                f"INSERT INTO {side.table}{suffix} SELECT * FROM ({side_select_sql(side, bundle.sides[side.kind])}) "
                f"WHERE {touched}"
            )
    rows, applied = conn.execute(
        "SELECT (SELECT count(*) FROM nppes_weekly_rows), (SELECT count(*) FROM nppes_weekly_npis)"
    ).fetchone()
    conn.execute("DROP TABLE nppes_weekly_rows; DROP TABLE nppes_weekly_npis")
    return {"rows": rows, "applied": applied, "superseded": rows - applied}


def _record(
    conn: DuckDBPyConnection, key: str, kind: str, bundle: BundleFiles, sha: str | None, rows: int, superseded: int
) -> None:
    conn.execute("DELETE FROM nppes_applied_bundles WHERE bundle_key = ?", [key])
    conn.execute(
        "INSERT INTO nppes_applied_bundles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            key,
            kind,
            bundle.primary.name,
            bundle.source_date,
            sha,
            datetime.now(UTC).replace(tzinfo=None),
            rows,
            superseded,
        ],
    )


def _rebuild(
    context: dg.AssetExecutionContext,
    conn: DuckDBPyConnection,
    data: DataDirResource,
    config: NppesBuildConfig,
    key: str,
    bundle: BundleFiles,
    sha: str,
) -> dict[str, object]:
    """Build the tables from the monthly into ``*__new``, re-apply the weeklies already applied that are newer than
    it, then swap the new tables in: all in one transaction, so a failure leaves the previous tables intact."""
    reapplied, dropped = [], []
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            f"CREATE TABLE {PROVIDER_TABLE}{NEW} AS "
            + provider_select_sql(bundle.primary, "monthly", bundle.source_date)
        )
        rows = conn.execute(f"SELECT count(*) FROM {PROVIDER_TABLE}{NEW}").fetchone()[0]
        for side in SIDE_TABLES:
            conn.execute(side_table_ddl(side, f"{side.table}{NEW}"))
            if side.kind in bundle.sides:
                conn.execute(f"INSERT INTO {side.table}{NEW} {side_select_sql(side, bundle.sides[side.kind])}")
        later = conn.execute(
            "SELECT bundle_key FROM nppes_applied_bundles WHERE kind = 'weekly' AND source_date > ? "
            "ORDER BY source_date, bundle_key",
            [bundle.source_date],
        ).fetchall()
        for (weekly_key,) in later:
            folder = data.layout.nppes_weekly / weekly_key
            try:
                weekly = _checked_bundle(folder)
            except NppesBundleError as exc:
                context.log.warning(f"weekly {weekly_key} cannot be re-applied ({exc}); re-materialize its partition")
                dropped.append(weekly_key)
                continue
            stats = _apply_weekly(conn, weekly, NEW)
            reapplied.append((weekly_key, weekly, _zip_sha256(folder), stats))
        rejected = _rejected_lines(conn, config)
        _refuse_duplicates(conn, f"{PROVIDER_TABLE}{NEW}", bundle.primary.name)
        for table in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"ALTER TABLE {table}{NEW} RENAME TO {table}")
        conn.execute("DELETE FROM nppes_applied_bundles")
        _record(conn, key, "monthly", bundle, sha, rows, 0)
        for weekly_key, weekly, weekly_sha, stats in reapplied:
            _record(conn, weekly_key, "weekly", weekly, weekly_sha, stats["applied"], stats["superseded"])
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return {
        "weeklies_reapplied": [k for k, *_ in reapplied],
        "weeklies_to_reapply": dropped,
        "rejected_lines": rejected,
    }


def _one_row_per_npi(conn: DuckDBPyConnection, asset_key: dg.AssetKey) -> dg.AssetCheckResult:
    rows, npis, blank = conn.execute(
        f"SELECT count(*), count(DISTINCT npi), count(*) FILTER (WHERE npi IS NULL) FROM {PROVIDER_TABLE}"
    ).fetchone()
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="one_row_per_npi",
        passed=rows == npis and blank == 0,
        metadata={"rows": rows, "distinct_npis": npis, "blank_npis": blank},
    )


def _provider_columns(conn: DuckDBPyConnection) -> dict[str, str]:
    return dict(conn.execute(f"SELECT column_name, column_type FROM (DESCRIBE {PROVIDER_TABLE})").fetchall())


def _provider_metadata(conn: DuckDBPyConnection) -> dict[str, object]:
    columns = _provider_columns(conn)
    preview_columns = [
        "npi",
        "entity_type",
        "provider_name",
        "status",
        "location_city",
        "location_state",
        "source_file",
    ]
    preview = conn.execute(
        f"SELECT {', '.join(preview_columns)} FROM {PROVIDER_TABLE} ORDER BY npi LIMIT 10"
    ).fetchall()
    rows, active, deactivated, weekly = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE status = 'A'), count(*) FILTER (WHERE status = 'D'), "
        f"count(*) FILTER (WHERE source_kind = 'weekly') FROM {PROVIDER_TABLE}"
    ).fetchone()
    sides = {side.table: conn.execute(f"SELECT count(*) FROM {side.table}").fetchone()[0] for side in SIDE_TABLES}
    bundles = conn.execute(
        "SELECT bundle_key, kind, source_date, rows, superseded FROM nppes_applied_bundles ORDER BY source_date"
    ).fetchall()
    return {
        **table_metadata(rows, columns, preview_columns, preview),
        "table": PROVIDER_TABLE,
        "active": active,
        "deactivated": deactivated,
        "rows_from_weeklies": weekly,
        "side_table_rows": sides,
        "applied_bundles": [f"{k} ({kind}, {d}, {n} rows, {s} superseded)" for k, kind, d, n, s in bundles],
    }


ONE_ROW_PER_NPI = dg.AssetCheckSpec(
    "one_row_per_npi",
    asset=PROVIDERS,
    blocking=True,
    description="nppes_providers has exactly one row per NPI and no blank NPI (resolution joins on it).",
)


@dg.asset(
    key=PROVIDERS,
    deps=[nppes_monthly_bundle],
    pool="duckdb",
    group_name=GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    tags={"source": "cms"},
    description="NPPES providers in DuckDB: table nppes_providers (one row per NPI: names, addresses, dates, "
    "taxonomies and identifiers as lists, status A/D, source file/kind/date) and the side tables "
    "nppes_other_names, nppes_practice_locations, nppes_endpoints, built from the monthly bundle plus the "
    "weeklies applied since.",
    check_specs=[ONE_ROW_PER_NPI],
)
def nppes_providers(
    context: dg.AssetExecutionContext, config: NppesBuildConfig, data: DataDirResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Rebuild from the current monthly bundle, streaming the CSVs inside DuckDB (never through Python).

    Unparseable lines (e.g. an unbalanced quote): the build is refused, naming every such line and its
    error, unless run config ``max_rejected_rows`` tolerates that many; tolerated lines are skipped and
    listed in metadata. A table already built from the same monthly zip is left as is (``force`` rebuilds).
    """
    current = _read_json(data.layout.nppes_monthly / CURRENT_MONTHLY)
    if not current:
        raise dg.Failure(
            f"no checked monthly bundle in {data.layout.nppes_monthly}: "
            f"materialize {MONTHLY_BUNDLE.to_user_string()} first"
        )
    key, sha = current["bundle_key"], current["zip_sha256"]
    bundle = _checked_bundle(data.layout.nppes_monthly / key)
    # closing(): the resource closes the connection only on success; a failed load must not keep the file locked.
    with warehouse.get_connection() as conn:
        _configure(conn, data, config)
        built = conn.execute("SELECT zip_sha256 FROM nppes_applied_bundles WHERE kind = 'monthly'").fetchone()
        rebuild = config.force or built is None or built[0] != sha or not _table_exists(conn, PROVIDER_TABLE)
        outcome: dict[str, object] = {}
        if rebuild:
            outcome = _rebuild(context, conn, data, config, key, bundle, sha)
            context.log.info(f"built {PROVIDER_TABLE} from {bundle.primary.name}")
        else:
            context.log.info(f"{PROVIDER_TABLE} already holds {key}; nothing rewritten")
        check = _one_row_per_npi(conn, PROVIDERS)
        metadata = _provider_metadata(conn)
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "rebuilt": rebuild,
            "monthly_bundle": key,
            "source_file": bundle.primary.name,
            "source_date": bundle.source_date.isoformat(),
            **outcome,
        },
        check_results=[check],
    )


@dg.asset(
    key=WEEKLY_UPDATE,
    deps=[nppes_weekly_bundle, nppes_providers],
    partitions_def=nppes_weekly_partitions,
    pool="duckdb",
    group_name=GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    tags={"source": "cms"},
    description="One weekly NPPES bundle applied to nppes_providers and its side tables: only the NPIs in the weekly "
    "change (new, updated, deactivated), in one transaction.",
    check_specs=[
        dg.AssetCheckSpec(
            "rows_match_file",
            asset=WEEKLY_UPDATE,
            blocking=True,
            description="Every data line of the weekly file was read (parsed or rejected, counted from the bytes), "
            "and the table holds exactly the rows applied (the rest were superseded by newer records).",
        ),
        dg.AssetCheckSpec(
            "one_row_per_npi",
            asset=WEEKLY_UPDATE,
            blocking=True,
            description="nppes_providers still has exactly one row per NPI after the update.",
        ),
    ],
)
def nppes_weekly_update(
    context: dg.AssetExecutionContext, config: NppesLoadConfig, data: DataDirResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Delete-then-insert the weekly's NPIs where the weekly is at least as new as the table's record.

    Order: any. The newest record of an NPI wins (by ``source_date``), so applying weeklies out of order,
    twice, or one older than the monthly changes nothing it should not; each application is recorded in
    ``nppes_applied_bundles``. A monthly rebuild re-applies the recorded weeklies newer than it.
    Unparseable lines: refused, as for the monthly (run config ``max_rejected_rows``).
    """
    key = context.partition_key
    bundle = _checked_bundle(data.layout.nppes_weekly / key)
    file_lines = count_data_lines(bundle.primary)
    sha = _zip_sha256(bundle.folder)
    with warehouse.get_connection() as conn:
        _configure(conn, data, config)
        if not _table_exists(conn, PROVIDER_TABLE):
            raise dg.Failure(f"table {PROVIDER_TABLE} does not exist: materialize {PROVIDERS.to_user_string()} first")
        conn.execute("BEGIN TRANSACTION")
        try:
            stats = _apply_weekly(conn, bundle)
            rejected = _rejected_lines(conn, config)
            _record(conn, key, "weekly", bundle, sha, stats["applied"], stats["superseded"])
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        in_table = conn.execute(
            f"SELECT count(*) FROM {PROVIDER_TABLE} WHERE source_file = ?", [bundle.primary.name]
        ).fetchone()[0]
        unique = _one_row_per_npi(conn, WEEKLY_UPDATE)
        columns = _provider_columns(conn)
        preview_columns = ["npi", "entity_type", "provider_name", "status", "deactivation_date", "last_update_date"]
        preview = conn.execute(
            f"SELECT {', '.join(preview_columns)} FROM {PROVIDER_TABLE} WHERE source_file = ? ORDER BY npi LIMIT 10",
            [bundle.primary.name],
        ).fetchall()
    context.log.info(f"applied {stats['applied']} of {stats['rows']} rows of {bundle.primary.name}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": stats["applied"],
            "dagster/column_schema": column_schema(columns),
            "preview": dg.MetadataValue.md(markdown_table(preview_columns, preview)),
            "file_lines": file_lines,
            "parsed_rows": stats["rows"],
            "applied_rows": stats["applied"],
            "superseded_rows": stats["superseded"],
            "rejected_lines": rejected,
            "source_file": bundle.primary.name,
            "source_date": bundle.source_date.isoformat(),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="rows_match_file",
                passed=in_table == stats["applied"] and stats["rows"] + len(rejected) == file_lines,
                metadata={"file_lines": file_lines, "rows_in_table_from_file": in_table, **stats},
            ),
            unique,
        ],
    )


# Partitioned by weekly bundle: jobs over other partitions (e.g. the whole pipeline) must leave these out.
WEEKLY_ASSETS = dg.AssetSelection.assets(WEEKLY_BUNDLE, WEEKLY_UPDATE)

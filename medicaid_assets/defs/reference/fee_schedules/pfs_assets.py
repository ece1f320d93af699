"""The Medicare physician fee schedule: one partition per quarterly RVU release, from the zip to payment amounts.

``raw/pfs_release`` downloads the release's zip (found on the CMS "PFS Relative Value Files" page) and extracts
it safely; the tables after it are values stored by the IO manager, one partition (``release``) per release.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from medicaid_assets.core.download import file_name_from_url, sha256_file
from medicaid_assets.core.safe_zip import check_archive, extract_zip
from medicaid_assets.core.stamps import current_extraction, extraction_stamp
from medicaid_assets.dagster_kit.charts import image_metadata, labelled_values_png
from medicaid_assets.dagster_kit.io_managers import PARTITION_EXPR, PREVIEW_COLUMNS
from medicaid_assets.dagster_kit.metadata import OWNERS, column_schema
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.defs.reference.fee_schedules.keys import (
    GROUP,
    PFS_AMOUNTS,
    PFS_LOCALITIES,
    PFS_NATIONAL,
    PFS_RELEASE,
    PFS_RVUS,
    PFS_STATE_AMOUNTS,
    RELEASE_COLUMN,
    pfs_release_partitions,
)
from medicaid_assets.defs.reference.fee_schedules.pfs_parse import (
    RVU_SCHEMA,
    ReleaseFiles,
    find_release_files,
    parse_anes,
    parse_gpci,
    parse_locco,
    parse_opps_cap,
    release_links,
)
from medicaid_assets.defs.reference.fee_schedules.pfs_pricing import (
    AMOUNT_COLUMNS,
    AMOUNT_DESCRIPTIONS,
    STATE_COLUMNS,
    STATE_DESCRIPTIONS,
    price_localities,
    state_amounts,
)

TAGS = {"source": "cms", "fee_schedule": "pfs"}
CHART_CODE = "99213"  # the most billed office visit: its state averages make the chart
TABLE_METADATA = {PARTITION_EXPR: RELEASE_COLUMN, PREVIEW_COLUMNS: 12}

RVU_DESCRIPTIONS = {
    "release": "PFS release (partition key)",
    "hcpcs_code": "CPT / Level II HCPCS code",
    "modifier": "'' global, 26 professional, TC technical, 53 discontinued",
    "status": "PFS status code (Attachment A); A, R, T are paid",
    "conversion_factor": "dollars per RVU",
}
LOCALITY_COLUMNS = {
    "release": ("VARCHAR", "PFS release (partition key)"),
    "carrier": ("VARCHAR", "MAC number, 5 digits"),
    "locality": ("VARCHAR", "locality number, 2 digits"),
    "state": ("VARCHAR", "two-letter state"),
    "locality_name": ("VARCHAR", "locality name (GPCI file, footnote stars removed)"),
    "work_gpci": ("DECIMAL(7,4)", "work GPCI"),
    "pe_gpci": ("DECIMAL(7,4)", "practice expense GPCI"),
    "mp_gpci": ("DECIMAL(7,4)", "malpractice GPCI"),
    "fee_schedule_area": ("VARCHAR", "fee schedule area (LOCCO)"),
    "counties": ("VARCHAR", "counties of the locality as LOCCO writes them"),
    "anesthesia_cf": ("DECIMAL(12,2)", "anesthesia conversion factor (ANES)"),
}


def pfs_table(
    key: dg.AssetKey, columns: dict[str, str], descriptions: dict[str, str], description: str, **kwargs: Any
) -> Callable:
    """The ``@dg.asset`` every PFS table shares: a partition per release, stored by the IO manager, its columns
    (name -> type) described in the UI."""
    return dg.asset(
        key=key,
        partitions_def=pfs_release_partitions,
        pool="duckdb",
        group_name=GROUP,
        kinds={"parquet", "duckdb"},
        owners=OWNERS,
        tags=TAGS,
        metadata={**TABLE_METADATA, "dagster/column_schema": column_schema(columns, descriptions)},
        description=description,
        **kwargs,
    )


def _release_url(files: HttpFilesResource, index_url: str, release: str) -> str:
    page = files.get_page_ok(index_url, "PFS index page")
    links = release_links(page.text, str(page.url))
    if release not in links:
        raise dg.Failure(f"PFS index page {index_url} links no RVU zip for {release} (it links {sorted(links)})")
    return links[release]


def release_folder(data: DataDirResource, release: str) -> Path:
    """Where the release's zip was extracted (the one zip in its folder)."""
    folder = data.layout.pfs_releases / release
    zips = sorted(folder.glob("*.zip"))
    if not zips:
        raise dg.Failure(f"no zip in {folder}; materialize {PFS_RELEASE.to_user_string()} for {release} first")
    return zips[0].with_name(zips[0].stem)


def release_files(data: DataDirResource, release: str) -> ReleaseFiles:
    return find_release_files(release_folder(data, release))


@dg.asset(
    key=PFS_RELEASE,
    partitions_def=pfs_release_partitions,
    group_name=GROUP,
    kinds={"zip", "http"},
    owners=OWNERS,
    tags=TAGS,
    description=(
        "One quarterly physician fee schedule release (RVUyyQ zip: PPRRVU, GPCI, LOCCO, ANES, OPPSCAP) in "
        "raw/pfs/<release>/, safely extracted beside it. Its URL is the zip the CMS PFS Relative Value Files page "
        "links for the partition's quarter (a correction or re-posted zip wins); a release already on disk is reused "
        "without a request."
    ),
)
def pfs_release(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
) -> dg.MaterializeResult:
    """Written in place (a raw download, decision 0001); the extraction is stamped so a current one is kept."""
    release = context.partition_key
    folder = data.layout.pfs_releases / release
    existing = sorted(folder.glob("*.zip"))
    url = None
    if existing:
        archive = existing[0]
        context.log.info(f"{archive} is on disk: reused, no request")
    else:
        url = _release_url(files, sources.pfs_index_url, release)
        name = file_name_from_url(url)
        archive = folder / (name if name.lower().endswith(".zip") else f"{name}.zip")
        files.download(url, archive, log=context.log, validate=lambda p: check_archive(p, data.max_extract_bytes))
    target = archive.with_name(archive.stem)
    st = archive.stat()
    built_from = {"zip_size": st.st_size, "zip_mtime_ns": st.st_mtime_ns}
    marker = current_extraction(target, built_from)
    if marker is None:
        report = extract_zip(archive, target, max_bytes=data.max_extract_bytes)
        marker = extraction_stamp(target).record(
            built_from,
            zip=archive.name,
            sha256=sha256_file(archive),
            files=sorted(p.relative_to(target).as_posix() for p in report.files),
        )
    found = find_release_files(target)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(marker["files"]),
            "dagster/column_schema": column_schema({"path": "VARCHAR"}),
            "path": dg.MetadataValue.path(str(target)),
            "url": url or "",
            "sha256": marker["sha256"],
            "files": dg.MetadataValue.json(marker["files"]),
            "pprrvu": found.pprrvu.name,
        },
        data_version=dg.DataVersion(marker["sha256"]),
    )


def _with_release(table: pa.Table, release: str) -> pa.Table:
    return table.add_column(0, RELEASE_COLUMN, pa.array([release] * table.num_rows, pa.string()))


@pfs_table(
    PFS_RVUS,
    {"release": "VARCHAR", **{f.name: str(f.type) for f in RVU_SCHEMA}},
    RVU_DESCRIPTIONS,
    "PPRRVU: one row per code x modifier of the release (every status), RVUs as exact decimals and the payment "
    "policy indicators, read by position from the CSV (or the fixed-width file when the release has no CSV).",
    deps=[PFS_RELEASE],
)
def pfs_rvus(context: dg.AssetExecutionContext, data: DataDirResource) -> pa.Table:
    found = release_files(data, context.partition_key)
    context.log.info(f"reading {found.pprrvu.name}")
    return _with_release(found.parse_rvus(), context.partition_key)


@pfs_table(
    PFS_LOCALITIES,
    {k: t for k, (t, _) in LOCALITY_COLUMNS.items()},
    {k: d for k, (_, d) in LOCALITY_COLUMNS.items()},
    "One row per Medicare carrier x locality: state, name and the three GPCIs (GPCI file), its fee schedule area "
    "and counties (LOCCO, leading zeros restored) and anesthesia conversion factor (ANES).",
    deps=[PFS_RELEASE],
)
def pfs_localities(context: dg.AssetExecutionContext, data: DataDirResource) -> pa.Table:
    found = release_files(data, context.partition_key)
    gpci = parse_gpci(found.gpci)
    with duckdb.connect() as conn:
        conn.register("gpci", gpci)
        joins, columns = [], ["NULL::VARCHAR AS fee_schedule_area", "NULL::VARCHAR AS counties"]
        if found.locco is not None:
            conn.register("locco", parse_locco(found.locco))
            joins.append("LEFT JOIN locco USING (carrier, locality)")
            columns = ["locco.fee_schedule_area", "locco.counties"]
        anes = "NULL::DECIMAL(12,2) AS anesthesia_cf"
        if found.anes is not None:
            conn.register("anes", parse_anes(found.anes))
            joins.append("LEFT JOIN anes USING (carrier, locality)")
            anes = "anes.anesthesia_cf"
        sql = (
            f"SELECT $release AS release, gpci.*, {', '.join(columns)}, {anes} FROM gpci {' '.join(joins)} "
            "ORDER BY carrier, locality"
        )
        return conn.execute(sql, {"release": context.partition_key}).to_arrow_table()


def _opps_cap_disagreements(amounts: pa.Table, opps_cap: pa.Table) -> tuple[int, int, list[dict]]:
    """(rows compared, rows that differ, examples): the published OPPSCAP prices of paid codes vs our amounts."""
    with duckdb.connect() as conn:
        conn.register("amounts", amounts)
        conn.register("cap", opps_cap)
        rows = conn.execute(
            """
            SELECT c.hcpcs_code, c.modifier, c.carrier, c.locality, c.non_facility_price, a.non_facility_amount,
                   c.facility_price, a.facility_amount
            FROM cap c JOIN amounts a USING (hcpcs_code, modifier, carrier, locality)
            """
        ).fetchall()
    bad = [r for r in rows if r[4] != r[5] or r[6] != r[7]]
    names = ("hcpcs_code", "modifier", "carrier", "locality", "published_nf", "ours_nf", "published_f", "ours_f")
    return len(rows), len(bad), [dict(zip(names, map(str, r), strict=True)) for r in bad[:10]]


@pfs_table(
    PFS_AMOUNTS,
    AMOUNT_COLUMNS,
    AMOUNT_DESCRIPTIONS,
    "Medicare physician fee schedule amounts, one row per paid code (status A, R, T) x modifier (26/TC/53 their "
    "own rows) x carrier/locality: non-facility = [(work RVU x work GPCI) + (non-facility PE RVU x PE GPCI) + "
    "(MP RVU x MP GPCI)] x CF, facility with the facility PE RVU, rounded half up to the cent; the OPPS imaging "
    "cap (the same formula with the OPPS PE/MP RVUs) applied where the release has OPPS RVUs, the lower amount "
    "winning; limiting charge = amount x 1.0925. Reproduces CMS's published payment file to the cent. The rates "
    "warehouse's bench_medicare_professional reads this table.",
    ins={"pfs_rvus": dg.AssetIn(PFS_RVUS), "pfs_localities": dg.AssetIn(PFS_LOCALITIES)},
    deps=[PFS_RELEASE],
    check_specs=[
        dg.AssetCheckSpec(
            "one_row_per_code_modifier_locality",
            asset=PFS_AMOUNTS,
            blocking=True,
            description="No code x modifier x carrier x locality appears twice, and every amount is non-negative.",
        ),
        dg.AssetCheckSpec(
            "opps_cap_matches_published",
            asset=PFS_AMOUNTS,
            description="Every paid code x locality in the release's OPPSCAP file has exactly the published capped "
            "facility and non-facility price (warn: the release may carry no OPPSCAP file).",
        ),
    ],
)
def pfs_amounts(
    context: dg.AssetExecutionContext, data: DataDirResource, pfs_rvus: pa.Table, pfs_localities: pa.Table
) -> Iterator[dg.Output[pa.Table] | dg.AssetCheckResult]:
    release = context.partition_key
    gpci_columns = ["carrier", "locality", "state", "locality_name", "work_gpci", "pe_gpci", "mp_gpci"]
    amounts = price_localities(release, pfs_rvus.drop_columns([RELEASE_COLUMN]), pfs_localities.select(gpci_columns))
    with duckdb.connect() as conn:
        conn.register("amounts", amounts)
        (duplicates, negative) = conn.execute(
            "SELECT count(*) - count(DISTINCT (hcpcs_code, modifier, carrier, locality)), "
            "count(*) FILTER (WHERE non_facility_amount < 0 OR facility_amount < 0) FROM amounts"
        ).fetchone()
    found = release_files(data, release)
    if found.opps_cap is not None:
        compared, differing, examples = _opps_cap_disagreements(amounts, parse_opps_cap(found.opps_cap))
        cap_check = dg.AssetCheckResult(
            check_name="opps_cap_matches_published",
            passed=differing == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_compared": compared,
                "rows_differing": differing,
                "examples": dg.MetadataValue.json(examples),
            },
        )
    else:
        cap_check = dg.AssetCheckResult(
            check_name="opps_cap_matches_published",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"reason": "the release has no OPPSCAP file"},
        )
    # Output first, then the checks: a failing blocking check stops pfs_state_amounts in the same run.
    yield dg.Output(
        amounts,
        metadata={
            "paid_codes": pc.count_distinct(amounts.column("hcpcs_code")).as_py(),
            "localities": pfs_localities.num_rows,
        },
    )
    yield dg.AssetCheckResult(
        check_name="one_row_per_code_modifier_locality",
        passed=duplicates == 0 and negative == 0,
        metadata={"duplicate_rows": duplicates, "negative_amounts": negative},
    )
    yield cap_check


@pfs_table(
    PFS_STATE_AMOUNTS,
    STATE_COLUMNS,
    STATE_DESCRIPTIONS,
    "Per paid code x modifier: each state's amounts as the unweighted mean of its localities' (CMS publishes no "
    "state figure; localities are not weighted by volume), and a national row (state US) = RVUs x CF with every "
    "GPCI 1.0. Its picture, `chart`: 99213's non-facility amount by state.",
    ins={"pfs_rvus": dg.AssetIn(PFS_RVUS), "pfs_amounts": dg.AssetIn(PFS_AMOUNTS)},
)
def pfs_state_amounts(
    context: dg.AssetExecutionContext, pfs_rvus: pa.Table, pfs_amounts: pa.Table
) -> dg.Output[pa.Table]:
    table = state_amounts(context.partition_key, pfs_rvus, pfs_amounts, PFS_NATIONAL)
    chart = {
        r["state"]: float(r["non_facility_amount"])
        for r in table.to_pylist()
        if r["hcpcs_code"] == CHART_CODE and not r["modifier"] and r["state"] != PFS_NATIONAL
    }
    png = labelled_values_png(
        dict(sorted(chart.items())), f"{CHART_CODE} non-facility amount by state, {context.partition_key}"
    )
    return dg.Output(table, metadata={"chart": image_metadata(png, f"{CHART_CODE} by state")})

"""The NUCC Health Care Provider Taxonomy code set, the newest version the NUCC CSV page links."""

import json
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from medicaid_assets.core.atomic import atomic_write
from medicaid_assets.core.download import file_name_from_url
from medicaid_assets.core.stamps import STAMP_VERSION, file_identity
from medicaid_assets.core.values import sql_string
from medicaid_assets.dagster_kit.io_managers import PREVIEW_COLUMNS, SqlFrame
from medicaid_assets.dagster_kit.metadata import OWNERS
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.defs.reference.code_sets.keys import GROUP, TAXONOMY
from medicaid_assets.defs.reference.code_sets.taxonomy_parse import VERSION_RE, newest_csv_url, parse_taxonomy

COLUMNS = {
    "taxonomy_code": "10-character NUCC code (e.g. 207Q00000X)",
    "grouping": "top level (e.g. Allopathic & Osteopathic Physicians)",
    "classification": "second level (e.g. Family Medicine)",
    "specialization": "third level, NULL when the code is the classification itself",
    "display_name": "NUCC's consumer-friendly label",
    "section": "Individual or Non-Individual",
    "definition": "NUCC definition",
    "deactivation_date": "when NUCC retired the code (releases that carry the column)",
    "version": "code set version from the file name (251 = v25.1)",
}


def _version(path: Path) -> int:
    match = VERSION_RE.search(path.name)
    return int(match[1]) if match else -1


def _download_newest(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
) -> Path:
    page = files.get_page_ok(sources.nucc_page_url, "NUCC page")
    url = newest_csv_url(page.text, str(page.url))
    if url is None:
        raise dg.Failure(f"NUCC page {sources.nucc_page_url} links no nucc_taxonomy CSV")
    dest = data.layout.nucc / file_name_from_url(url)
    files.download(url, dest, log=context.log, validate=parse_taxonomy)
    return dest


@dg.asset(
    key=TAXONOMY,
    group_name=GROUP,
    kinds={"csv", "http", "parquet"},
    owners=OWNERS,
    tags={"source": "nucc"},
    pool="duckdb",
    metadata={
        PREVIEW_COLUMNS: 5,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, "VARCHAR", description=text) for name, text in COLUMNS.items()]
        ),
    },
    description=(
        "NUCC Health Care Provider Taxonomy: one row per code with grouping, classification and specialization. The "
        "newest nucc_taxonomy_<version>.csv the NUCC CSV page links (versions come twice a year), kept in raw/nucc/ "
        "and read by header name (releases differ in their date columns). A code set already in raw/nucc/ is used without a "
        "request. Stored by the IO manager, and not rewritten when the CSV is the one it was stored from."
    ),
)
def nucc_taxonomy(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
) -> SqlFrame:
    local = sorted(data.layout.nucc.glob("nucc_taxonomy_*.csv"), key=_version)
    if local:  # like the CPT archives: a code set on disk is used without a request (delete it to fetch anew)
        dest = local[-1]
        context.log.info(f"{dest} is on disk: used, no request")
    else:
        dest = _download_newest(context, files, data, sources)
    table = parse_taxonomy(dest)
    context.log.info(f"{dest.name}: {table.num_rows} taxonomy codes")
    # Handed over as a query with the CSV's identity as its source, so a re-run with the same CSV rewrites nothing.
    parsed = data.layout.root / "tmp" / "nucc_taxonomy.parquet"
    parsed.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(parsed) as tmp:
        pq.write_table(table, tmp)
    source = json.dumps([STAMP_VERSION, dest.name, file_identity(dest)])
    return SqlFrame(f"SELECT * FROM read_parquet({sql_string(str(parsed))})", source=source)

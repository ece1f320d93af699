"""The release downloaded and extracted (``raw/…_downloads``), then landed as parquet per file type × year.

Both write files in place (decision 0001: raw downloads): the download helper and the extraction are atomic, and
a landing swaps a file type's whole folder in at the end (:mod:`landing`).
"""

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from medicaid_assets.core.download import file_name_from_url
from medicaid_assets.core.safe_zip import extract_zip
from medicaid_assets.core.stamps import Stamp, current_extraction, extraction_stamp, files_identity
from medicaid_assets.dagster_kit.metadata import OWNERS, table_metadata
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource
from medicaid_assets.defs.synthetic_medicare.keys import DOWNLOADS, GROUP, LANDED, file_type_partitions
from medicaid_assets.defs.synthetic_medicare.landing import land
from medicaid_assets.defs.synthetic_medicare.parse import LayoutError, SourceFile, classify, read_header
from medicaid_assets.defs.synthetic_medicare.resources import SyntheticMedicareSourcesResource
from medicaid_assets.layout import DataLayout

LANDING_THREADS = 2
LANDING_MEMORY = "1GB"  # per landing connection: two at once stay within 2 GB, spilling to layout.duckdb_temp
PARSER_VERSION = 1  # bump when parse/landing change what a landed file holds: every type is landed again
TAGS = {"source": "cms_synthetic_medicare"}


def source_files(layout: DataLayout) -> list[SourceFile]:
    """Every release file under the raw folder (extracted zips and the plain PDE file), by type and name."""
    root = layout.synthetic_medicare_raw
    found = (
        classify(p)
        for p in sorted(root.rglob("*.csv"))
        if not any(part.endswith((".partial", ".old")) for part in p.relative_to(root).parts)
    )
    return [s for s in found if s is not None]


def _validator(dest: Path) -> Callable[[Path], object] | None:
    """For a plain download (pde.csv): the downloaded bytes (a temp name) must be the release's pipe-delimited file,
    refused before they replace anything. Zips are checked when extracted."""
    return None if dest.suffix.lower() == ".zip" else read_header


@dg.asset(
    key=DOWNLOADS,
    group_name=GROUP,
    kinds={"http", "csv"},
    owners=OWNERS,
    tags=TAGS,
    description=(
        "The CMS synthetic Medicare release (data.cms.gov, 2023): `All Beneficiary Years.zip`, `All FFS Claims.zip` "
        "and `pde.csv`, downloaded to raw/synthetic_medicare/ (resumed, verified, atomic) and each zip extracted "
        "beside it (size-bounded, no path escape). Unchanged files are neither fetched nor extracted again."
    ),
)
def synthetic_medicare_downloads(
    context: dg.AssetExecutionContext,
    files: HttpFilesResource,
    data: DataDirResource,
    synthetic_medicare_sources: SyntheticMedicareSourcesResource,
) -> dg.MaterializeResult:
    root = data.layout.synthetic_medicare_raw
    shas, reused, sizes = [], 0, 0
    for url in synthetic_medicare_sources.urls:
        dest = root / file_name_from_url(url)
        result = files.download(url, dest, log=context.log, validate=_validator(dest))
        shas.append(result.sha256)
        reused += result.reused
        sizes += result.size
        if dest.suffix.lower() == ".zip":
            folder = root / dest.stem
            built_from = {"sha256": result.sha256}
            if current_extraction(folder, built_from) is None:
                report = extract_zip(dest, folder, max_bytes=data.max_extract_bytes)
                extraction_stamp(folder).record(built_from, files=[str(p.relative_to(folder)) for p in report.files])
    sources = source_files(data.layout)
    counts = {t: sum(1 for s in sources if s.file_type == t) for t in file_type_partitions.get_partition_keys()}
    missing = [t for t, n in counts.items() if not n]
    if missing:
        raise LayoutError(
            f"the release has no file for {', '.join(missing)} under {root}; check the three URLs "
            "(MEDICAID_SYNTHETIC_MEDICARE_*_URL) point at the release's downloads"
        )
    rows = [[s.file_type, s.year or "", s.path.name, s.path.stat().st_size] for s in sources]
    return dg.MaterializeResult(
        metadata={
            **table_metadata(
                len(rows),
                {"file_type": "VARCHAR", "year": "INTEGER", "file": "VARCHAR", "bytes": "BIGINT"},
                ["file_type", "year", "file", "bytes"],
                rows,
            ),
            "path": dg.MetadataValue.path(str(root)),
            "bytes_downloaded_or_reused": sizes,
            "files_reused": reused,
            "files_per_type": dg.MetadataValue.json(counts),
        },
        data_version=dg.DataVersion(hashlib.sha256("".join(shas).encode()).hexdigest()[:24]),
    )


def stamps_folder(layout: DataLayout) -> Path:
    return layout.synthetic_medicare_landed / "_stamps"


def landed_rows(layout: DataLayout) -> dict[str, dict[int, int]]:
    """Rows per year of every file type landed so far, from the landing stamps (no parquet read)."""
    kept = {t: Stamp.in_folder(stamps_folder(layout), t).kept() for t in file_type_partitions.get_partition_keys()}
    return {t: {int(y): int(n) for y, n in f["rows_per_year"].items()} for t, f in kept.items() if f}


@dg.asset(
    key=LANDED,
    deps=[DOWNLOADS],
    output_required=False,
    partitions_def=file_type_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    kinds={"parquet", "duckdb"},
    owners=OWNERS,
    tags=TAGS,
    description=(
        "The release as parquet, one partition per file type (beneficiary, the seven claim types, pde), one file per "
        "year inside it (landed/synthetic_medicare/<type>/year=YYYY/). Every column is read as text, then typed by "
        "name (dates `14-Aug-1990` → DATE, amounts DECIMAL, ids BIGINT, codes stay text with leading zeros); `NA` → "
        "null; public-release and BFD RIF header spellings are normalized by one synonym map."
    ),
)
def synthetic_medicare_landed(
    context: dg.AssetExecutionContext, data: DataDirResource
) -> Iterator[dg.MaterializeResult]:
    """Land each file type of the run unless its stamp says it was landed from these very files. When every type
    is current the step records nothing (no new materialization): the last one still describes the files."""
    layout = data.layout
    sources = source_files(layout)
    stamps = stamps_folder(layout)

    def land_type(file_type: str) -> tuple[dict, bool]:
        """The type's landing facts, landing it first unless its stamp says these very files were landed."""
        chosen = [s for s in sources if s.file_type == file_type]
        out_dir = layout.synthetic_medicare_landed / file_type
        stamp = Stamp.in_folder(stamps, file_type)
        built_from = {"files": files_identity([s.path for s in chosen]), "parser": PARSER_VERSION}
        facts = stamp.current(built_from) if out_dir.is_dir() else None
        if facts is not None:
            return facts, False
        result = land(chosen, out_dir, memory_limit=LANDING_MEMORY, temp_dir=layout.duckdb_temp)
        rows = {str(y): n for y, n in result.rows_per_year.items()}
        return stamp.record(built_from, rows_per_year=rows, columns=result.columns), True

    # Two types at once: each file is small next to DuckDB's per-query start-up, so overlapping them fills the cores.
    with ThreadPoolExecutor(max_workers=LANDING_THREADS) as pool:
        outcomes = dict(zip(context.partition_keys, pool.map(land_type, context.partition_keys), strict=True))
    rows_now = {t: {int(y): int(n) for y, n in facts["rows_per_year"].items()} for t, (facts, _) in outcomes.items()}
    columns = {t: facts["columns"] for t, (facts, _) in outcomes.items()}
    relanded = [t for t, (_, fresh) in outcomes.items() if fresh]
    context.log.info(f"landed {', '.join(relanded) or 'nothing'}; current: {len(rows_now) - len(relanded)} type(s)")
    if not relanded:
        return
    total = sum(sum(v.values()) for v in rows_now.values())
    preview_rows: list[list[object]] = []
    preview_columns: list[str] = []
    first = next((t for t in context.partition_keys if rows_now.get(t)), None)
    if first is not None:
        part = next((layout.synthetic_medicare_landed / first).glob("*/*.parquet"))
        table = next(pq.ParquetFile(part).iter_batches(batch_size=5)).to_pylist()
        preview_columns = list(table[0])[:12] if table else []
        preview_rows = [[row[c] for c in preview_columns] for row in table]
    yield dg.MaterializeResult(
        metadata={
            **table_metadata(total, columns.get(first or "", {}), preview_columns, preview_rows),
            "rows_per_type_and_year": dg.MetadataValue.json(
                {t: {str(y): n for y, n in sorted(v.items())} for t, v in rows_now.items()}
            ),
            "types_relanded": ", ".join(relanded),
            "path": dg.MetadataValue.path(str(layout.synthetic_medicare_landed)),
        },
    )

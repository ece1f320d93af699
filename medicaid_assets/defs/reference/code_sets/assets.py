"""The CMS CPT/HCPCS archives (downloaded, safely extracted, overlaid) and the CPT/HCPCS fallback built from them."""

import csv
import filecmp
import hashlib
import shutil
from collections import Counter
from pathlib import Path

import dagster as dg

from medicaid_assets.core.atomic import atomic_path
from medicaid_assets.core.cms_index import pick_zip_url
from medicaid_assets.core.download import DownloadResult, file_name_from_url, sha256_file
from medicaid_assets.core.safe_zip import UnsafeArchiveError, check_archive, extract_zip
from medicaid_assets.core.stamps import current_extraction, extraction_stamp
from medicaid_assets.dagster_kit.metadata import OWNERS, column_schema, table_metadata
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.dagster_kit.resources.storage import DataDirResource, SourcesResource
from medicaid_assets.defs.reference.code_sets.fallback import (
    CODE_RE,
    COLUMNS,
    build_fallback,
    candidate_files,
    write_fallback,
)
from medicaid_assets.defs.reference.code_sets.keys import ARCHIVES, FALLBACK, GROUP
from medicaid_assets.layout import DataLayout

OVERLAY_FOLDER = "PFREV26AR_nonQP"  # the extracted folder the version-controlled overlays go into
OVERLAY_SUBFOLDERS = ("csv", "md")
FALLBACK_COLUMNS = {name: "BOOLEAN" if name in ("obsolete", "is_noc") else "VARCHAR" for name in COLUMNS}


def zip_file_name(url: str) -> str:
    """Where a zip URL is saved in ``archives/`` (``.zip`` added when the URL's name lacks it)."""
    name = file_name_from_url(url)
    return name if name.lower().endswith(".zip") else f"{name}.zip"


def has_local_cpt_data(layout: DataLayout) -> bool:
    """True when ``raw/cpt`` already holds a zip or a file the fallback could read (so no auto-discovery)."""
    return any(layout.cpt_archives.glob("*.zip")) or bool(candidate_files(layout.cpt_root, [layout.cpt_fallback]))


def extract_archive(archive: Path, max_bytes: int) -> tuple[dict, bool]:
    """Extract ``archive`` into ``archives/<stem>/`` unless that extraction is current; return (marker, reused)."""
    target = archive.with_name(archive.stem)
    st = archive.stat()
    built_from = {"zip_size": st.st_size, "zip_mtime_ns": st.st_mtime_ns}  # a zip changed since has a new mtime
    marker = current_extraction(target, built_from)
    if marker is not None:
        return marker, True
    try:
        report = extract_zip(archive, target, max_bytes=max_bytes)
    except UnsafeArchiveError as exc:
        # Every zip in archives/ is extracted on every run: a refused *download* is moved aside, or it would fail
        # every later run, even once its URL is gone from the config. A zip put there by hand stays (and fails).
        meta = archive.with_name(archive.name + ".meta.json")
        if not meta.is_file():
            raise
        rejected = archive.with_name(archive.name + ".rejected")
        archive.replace(rejected)
        meta.unlink()
        raise UnsafeArchiveError(f"{exc}; the download was moved to {rejected.name}, later runs skip it") from exc
    marker = extraction_stamp(target).record(
        built_from,
        zip=archive.name,
        size=st.st_size,
        sha256=sha256_file(archive),
        bytes=report.bytes,
        nested=report.nested,
        files=sorted(p.relative_to(target).as_posix() for p in report.files),
    )
    return marker, False


def copy_overlays(source: Path, archives: Path) -> tuple[list[str], int]:
    """Copy ``source/{csv,md}`` into every extracted ``PFREV26AR_nonQP`` folder; return (targets, files written).

    A file already identical is left alone, so a current tree is not rewritten.
    """
    targets = sorted(p for p in archives.rglob(OVERLAY_FOLDER) if p.is_dir())
    written = 0
    for target in targets:
        for sub in OVERLAY_SUBFOLDERS:
            for src in sorted(p for p in (source / sub).rglob("*") if p.is_file()):
                dst = target / sub / src.relative_to(source / sub)
                if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
                    continue
                with atomic_path(dst) as tmp:
                    shutil.copyfile(src, tmp)
                written += 1
    return [t.relative_to(archives).as_posix() for t in targets], written


def _discover_zip_url(files: HttpFilesResource, index_url: str, log: dg.DagsterLogManager) -> str:
    """The fee-schedule zip the CMS index page links (see lib.cms_index for the rule)."""
    page = files.get_page_ok(index_url, "CPT index page", hint="; pass cpt_zip_urls instead")
    url = pick_zip_url(page.text, str(page.url))
    if url is None:
        raise dg.Failure(f"CPT index page {index_url} links no .zip file; pass cpt_zip_urls instead")
    log.info(f"auto-discovered {url} on {index_url}")
    return url


@dg.asset(
    key=ARCHIVES,
    group_name=GROUP,
    kinds={"zip", "http"},
    owners=OWNERS,
    tags={"source": "cms"},
    description=(
        "CMS fee-schedule zips (PFS RVU file, payment amounts, status codes, HCPCS Level II annual file) in "
        "raw/cpt/archives/, each extracted recursively to `archives/<zip stem>/` with the manual overlays copied "
        "into its PFREV26AR_nonQP folder. Zips come from `cpt_zip_urls`, else from the CMS index page when "
        "raw/cpt holds no data yet."
    ),
)
def cpt_archives(
    context: dg.AssetExecutionContext, files: HttpFilesResource, data: DataDirResource, sources: SourcesResource
) -> dg.MaterializeResult:
    """Download what is missing, extract what is not current, refuse hostile zips before writing anything."""
    layout = data.layout
    archives = layout.cpt_archives
    urls = list(sources.cpt_zip_urls)
    discovered = not urls and not has_local_cpt_data(layout)
    if discovered:
        urls = [_discover_zip_url(files, sources.cpt_index_url, context.log)]
    downloads: list[DownloadResult] = []
    for url in urls:
        dest = archives / zip_file_name(url)
        downloads.append(
            files.download(
                url, dest, log=context.log, validate=lambda path: check_archive(path, data.max_extract_bytes)
            )
        )
    by_path = {Path(d.path): d for d in downloads}
    report: list[dict] = []
    extracted_files: list[str] = []
    for archive in sorted({*by_path, *archives.glob("*.zip")}):
        marker, reused = extract_archive(archive, data.max_extract_bytes)
        fetched = by_path.get(archive)
        context.log.info(f"{'reused' if reused else 'extracted'} {archive.name}: {len(marker['files'])} files")
        extracted_files += [f"{archive.stem}/{f}" for f in marker["files"]]
        report.append(
            {
                "zip": archive.name,
                "url": fetched.url if fetched else None,
                "bytes": marker["size"],
                "sha256": marker["sha256"],
                "etag": fetched.etag if fetched else None,
                "last_modified": fetched.last_modified if fetched else None,
                "downloaded": bool(fetched and not fetched.reused),
                "extracted": not reused,
                "extracted_bytes": marker["bytes"],
                "files": len(marker["files"]),
            }
        )
    overlay_targets, overlay_written = copy_overlays(Path(data.overlays_dir) / OVERLAY_FOLDER, archives)
    if not overlay_targets and report:
        context.log.warning(f"no extracted {OVERLAY_FOLDER} folder under {archives}; overlays not copied")
    version = hashlib.sha256("".join(sorted(r["sha256"] for r in report)).encode()).hexdigest()
    return dg.MaterializeResult(
        metadata={
            # The rows of this asset are the extracted files, listed as <zip stem>/<member path> in extracted_files.
            "dagster/row_count": len(extracted_files),
            "dagster/column_schema": column_schema({"path": "VARCHAR"}),
            "path": dg.MetadataValue.path(str(archives)),
            "urls": dg.MetadataValue.json(urls),
            "auto_discovered_from": sources.cpt_index_url if discovered else "",
            "archives": dg.MetadataValue.json(report),
            "bytes": sum(r["bytes"] for r in report),
            "sha256": dg.MetadataValue.json({r["zip"]: r["sha256"] for r in report}),
            "etag": dg.MetadataValue.json({r["zip"]: r["etag"] for r in report if r["etag"]}),
            "extracted_file_count": len(extracted_files),
            "extracted_files": dg.MetadataValue.json(extracted_files),
            "overlay_targets": dg.MetadataValue.json(overlay_targets),
            "overlay_files_written": overlay_written,
        },
        data_version=dg.DataVersion(version),
    )


def _check_written(path: Path) -> tuple[int, list[str], list[str]]:
    """Rows, duplicated codes and malformed codes of the fallback as written (the checks read the file, not memory)."""
    with path.open(encoding="utf-8", newline="") as fh:
        codes = [row["hcpcs_code"] for row in csv.DictReader(fh)]
    duplicates = [c for c, n in Counter(codes).items() if n > 1]
    malformed = [c for c in codes if not CODE_RE.match(c)]
    return len(codes), duplicates, malformed


@dg.asset(
    key=FALLBACK,
    deps=[cpt_archives],
    group_name=GROUP,
    kinds={"csv"},
    owners=OWNERS,
    tags={"source": "cms"},
    description=(
        "raw/cpt/cpt_hcpcs_fallback.csv: one row per CPT/HCPCS code (columns "
        "hcpcs_code,short_desc,long_desc,add_dt,act_eff_dt,term_dt,obsolete,is_noc,source_file), the richest "
        "description among every parsable file under raw/cpt: PPRRVU short descriptors, Level II long "
        "descriptions and dates, payment-file status meanings, any code/description table."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "one_row_per_code",
            asset=FALLBACK,
            blocking=True,
            description="Every hcpcs_code appears exactly once in the written fallback.",
        ),
        dg.AssetCheckSpec(
            "codes_well_formed",
            asset=FALLBACK,
            blocking=True,
            description="Every hcpcs_code matches ^[A-Z0-9]{5}$.",
        ),
    ],
)
def cpt_hcpcs_fallback(context: dg.AssetExecutionContext, data: DataDirResource) -> dg.MaterializeResult:
    """Rebuild from the files on disk; an empty result never replaces a good fallback."""
    layout = data.layout
    build = build_fallback(layout.cpt_root, exclude=[layout.cpt_fallback])
    if not build.rows:
        raise dg.Failure(
            f"no CPT/HCPCS code found in any file under {layout.cpt_root} "
            f"(read: {sorted(build.kinds) or 'none'}); the existing fallback, if any, was left unchanged"
        )
    changed = write_fallback(build.rows, layout.cpt_fallback)
    rows, duplicates, malformed = _check_written(layout.cpt_fallback)
    context.log.info(f"{'wrote' if changed else 'kept (unchanged)'} {layout.cpt_fallback}: {rows:,} codes")
    sha256 = sha256_file(layout.cpt_fallback)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(rows, FALLBACK_COLUMNS, COLUMNS, [r.values() for r in build.rows[:10]]),
            "path": dg.MetadataValue.path(str(layout.cpt_fallback)),
            "rows_per_source_file": dg.MetadataValue.json(build.rows_per_source()),
            "codes_read_per_file": dg.MetadataValue.json(build.parsed),
            "parser_per_file": dg.MetadataValue.json(build.kinds),
            "unparsed_files": dg.MetadataValue.json(build.skipped),
            "rewritten": changed,
            "sha256": sha256,
        },
        data_version=dg.DataVersion(sha256),
        check_results=[
            dg.AssetCheckResult(
                check_name="one_row_per_code",
                passed=not duplicates,
                metadata={"duplicated_codes": len(duplicates), "examples": dg.MetadataValue.json(duplicates[:10])},
            ),
            dg.AssetCheckResult(
                check_name="codes_well_formed",
                passed=not malformed,
                metadata={"malformed_codes": len(malformed), "examples": dg.MetadataValue.json(malformed[:10])},
            ),
        ],
    )

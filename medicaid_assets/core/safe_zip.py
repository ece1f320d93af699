"""Zip extraction that refuses hostile archives and never leaves a half-extracted folder.

Refused, with an error naming the archive and the member: paths that escape the target (``../x``,
absolute paths, drive letters), symlink members, archives whose declared or actual expanded size
passes a bound, and nesting deeper than a bound. Extraction goes to a temp folder beside the target
and is renamed into place only when complete.
"""

from __future__ import annotations

import gzip
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from medicaid_assets.core.atomic import swap_folder
from medicaid_assets.core.filelock import exclusive, lock_path

DEFAULT_MAX_BYTES = 64 * 1024**3  # the real NPPES monthly expands to ~11 GB
DEFAULT_MAX_DEPTH = 4
CHUNK = 1 << 20


class UnsafeArchiveError(ValueError):
    """An archive we refuse to extract; nothing was written under the target."""


@dataclass
class ExtractReport:
    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    nested: list[str] = field(default_factory=list)


def _safe_member_path(archive: Path, name: str) -> PurePosixPath:
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":") or ".." in path.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} would escape the target folder; refusing the archive")
    # Trailing spaces in folder names (real CMS zips have them) are trimmed, as the contract asks.
    parts = [p.rstrip(" ") for p in path.parts if p not in ("", ".")]
    if not parts or any(p == "" for p in parts):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an empty path component")
    return PurePosixPath(*parts)


def check_archive(archive: Path, max_bytes: int = DEFAULT_MAX_BYTES, already: int = 0) -> list[zipfile.ZipInfo]:
    """Validate every member of ``archive`` before anything is written; return its members.

    ``already`` counts bytes extracted before this archive (an outer zip), toward the same bound.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise UnsafeArchiveError(f"{archive}: not a zip file ({exc})") from exc
    with zf:
        infos = zf.infolist()
    total = already
    for info in infos:
        _safe_member_path(archive, info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symlink; refusing the archive")
        total += info.file_size
        if total > max_bytes:
            raise UnsafeArchiveError(
                f"{archive}: expands to more than {max_bytes:,} bytes (bound MEDICAID_MAX_EXTRACT_BYTES); refusing"
            )
    return infos


def extract_zip(archive: Path, target: Path, **options) -> ExtractReport:
    """Extract ``archive`` into ``target`` (see :func:`_extract_zip`), one process at a time per ``target``."""
    with exclusive(lock_path(target), f"extract {archive.name}"):
        return _extract_zip(archive, target, **options)


def _extract_zip(
    archive: Path,
    target: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    recursive: bool = True,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> ExtractReport:
    """Extract ``archive`` into ``target`` (replacing it), expanding nested zips in place when ``recursive``.

    A nested ``x.zip`` is extracted into a folder ``x/`` beside it and removed. The whole tree is built
    in ``<target>.partial`` and swapped in at the end.
    """
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    report = ExtractReport()
    try:
        _extract_into(archive, partial, report, max_bytes, recursive, max_depth, depth=0, label=str(archive))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # e.g. a header lying about a member's size
        shutil.rmtree(partial, ignore_errors=True)
        raise UnsafeArchiveError(f"{archive}: corrupt archive ({exc}); refusing, nothing was extracted") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    swap_folder(partial, target)
    report.files = [target / p.relative_to(partial) for p in report.files]
    return report


def _extract_into(
    archive: Path,
    dest: Path,
    report: ExtractReport,
    max_bytes: int,
    recursive: bool,
    max_depth: int,
    depth: int,
    label: str,
) -> None:
    if depth > max_depth:
        raise UnsafeArchiveError(f"{label}: zips nested deeper than {max_depth} levels; refusing")
    infos = check_archive(archive, max_bytes, already=report.bytes)
    nested: list[Path] = []
    with zipfile.ZipFile(archive) as zf:
        for info in infos:
            rel = _safe_member_path(archive, info.filename)
            out = dest.joinpath(*rel.parts)
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, out.open("wb") as dst:
                while chunk := src.read(CHUNK):
                    written += len(chunk)
                    if report.bytes + written > max_bytes:  # a lying header: enforce while streaming
                        raise UnsafeArchiveError(
                            f"{label}: member {info.filename!r} expands past {max_bytes:,} bytes; refusing"
                        )
                    dst.write(chunk)
            report.bytes += written
            if recursive and out.suffix.lower() == ".zip":
                nested.append(out)
            else:
                report.files.append(out)
    for inner in nested:
        folder = inner.with_suffix("")
        report.nested.append(str(inner.relative_to(dest)))
        _extract_into(inner, folder, report, max_bytes, recursive, max_depth, depth + 1, f"{label}!{inner.name}")
        report.bytes -= inner.stat().st_size
        inner.unlink()


def unpack_if_compressed(path: Path, suffix: str = ".parquet", max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    """The one ``suffix`` file inside a ``.zip`` or ``.gz`` download (extracted beside it once, atomically), else
    ``path``. A zip is checked first like any other (no path tricks, at most ``max_bytes`` expanded)."""
    if path.suffix == ".gz":
        target = path.with_suffix("")
        if not target.exists():
            tmp = target.with_name(target.name + ".tmp")
            with gzip.open(path, "rb") as src, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            tmp.replace(target)
        return target
    if path.suffix == ".zip":
        member = single_member(path, suffix, max_bytes)
        target = path.with_name(Path(member.filename).name)
        if not target.exists():
            tmp = target.with_name(target.name + ".tmp")
            with zipfile.ZipFile(path) as zf, zf.open(member) as src, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            tmp.replace(target)
        return target
    return path


def single_member(path: Path, suffix: str = ".parquet", max_bytes: int = DEFAULT_MAX_BYTES) -> zipfile.ZipInfo:
    """The one ``suffix`` member of the zip at ``path`` (any name), after the archive's safety checks; raises
    naming the members found otherwise. A download validator calls it, so such a zip is never kept."""
    check_archive(path, max_bytes)
    with zipfile.ZipFile(path) as zf:
        members = [m for m in zf.infolist() if m.filename.lower().endswith(suffix) and not m.is_dir()]
    if len(members) != 1:
        found = [m.filename for m in members] or "none"
        raise UnsafeArchiveError(f"{path}: expected one {suffix} file inside the zip, found {found}")
    return members[0]

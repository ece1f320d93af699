"""Which files of the data directory the bucket keeps: raw sources, caches and outputs, as relative patterns.

Not the values passed between assets (``<data dir>/assets``, the parquet IO manager's): they are re-derived from the
warehouse, and kept while their source digest holds (docs/decisions/0001).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path, PurePosixPath

from medicaid_assets.layout import DataLayout

SOURCES, CACHES, OUTPUTS = "sources", "caches", "outputs"


def _is_temporary(name: str) -> bool:
    return name.startswith(".") or name.endswith((".part", ".part.meta.json", ".tmp"))


def _rel(layout: DataLayout, path: Path) -> str | None:
    try:
        return path.relative_to(layout.root).as_posix()
    except ValueError:
        return None  # e.g. a --hcpcs-fallback-csv outside the data directory


def patterns(layout: DataLayout, kind: str) -> list[str]:
    """Relative names (``*`` = one path component) the bucket keeps for ``kind``: sources, caches or outputs."""
    if kind == SOURCES:
        found = [f"{_rel(layout, layout.raw_medicaid)}/*"]
        for folder in (layout.nppes_monthly, layout.nppes_weekly, layout.cpt_archives):
            found += [f"{_rel(layout, folder)}/*.zip", f"{_rel(layout, folder)}/*.zip.meta.json"]
        found.append(_rel(layout, layout.cpt_fallback))
        found += [f"{_rel(layout, layout.nucc)}/*.csv", f"{_rel(layout, layout.nucc)}/*.csv.meta.json"]
    elif kind == CACHES:
        found = [_rel(layout, layout.npi_cache), _rel(layout, layout.hcpcs_cache)]
    elif kind == OUTPUTS:
        files = (layout.npi_mapping, layout.hcpcs_mapping, layout.npi_dataset, layout.hcpcs_dataset)
        found = [*(_rel(layout, p) for p in files), _rel(layout, layout.unresolved_report)]
        found.append(f"{_rel(layout, layout.triage)}/*")
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return [p for p in found if p is not None]


def matches(layout: DataLayout, kind: str, relative: str) -> bool:
    parts = PurePosixPath(relative).parts
    if not parts or _is_temporary(parts[-1]) or ".." in parts:
        return False
    for pattern in patterns(layout, kind):
        wanted = PurePosixPath(pattern).parts
        if len(wanted) == len(parts) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True)):
            return True
    return False


def local_files(layout: DataLayout, kind: str) -> list[Path]:
    """The files of ``kind`` present in the data directory now, by name."""
    found: set[Path] = set()
    for pattern in patterns(layout, kind):
        for path in layout.root.glob(pattern):
            if path.is_file() and matches(layout, kind, path.relative_to(layout.root).as_posix()):
                found.add(path)
    return sorted(found)

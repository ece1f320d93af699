"""Land one file type of the release as parquet per year: ``<landed>/<type>/year=YYYY/*.parquet``.

DuckDB streams the delimited files (text first, then typed: :mod:`parse`) straight to parquet, so memory stays
bounded whatever the file size. The type's folder is rebuilt beside the old one and swapped in whole: a reader
(dbt) sees the previous landing or the new one, never a mix, and a crash leaves the previous one.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from medicaid_assets.core.atomic import swap_folder
from medicaid_assets.core.values import sql_string
from medicaid_assets.defs.synthetic_medicare.parse import (
    LayoutError,
    SourceFile,
    column_type,
    normalize,
    read_header,
    select_sql,
)


@dataclass(frozen=True)
class Landed:
    """What a landing wrote: rows per year, and the typed columns (name -> DuckDB type)."""

    file_type: str
    rows_per_year: dict[int, int]
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.rows_per_year.values())


def landing_sql(sources: Sequence[SourceFile]) -> str:
    """All rows of ``sources`` (one type), typed, with ``year``: several beneficiary years union by name."""
    return " UNION ALL BY NAME ".join(f"({select_sql(s, read_header(s.path))})" for s in sources)


def land(
    sources: Sequence[SourceFile], out_dir: Path, *, memory_limit: str = "1GB", temp_dir: Path | None = None
) -> Landed:
    """Replace ``out_dir`` with the typed rows of ``sources`` as hive-partitioned parquet (``year=YYYY``)."""
    if not sources:
        raise LayoutError(f"no source files for {out_dir.name}; is the download complete?")
    file_type = sources[0].file_type
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as conn:
        conn.execute(f"SET memory_limit = {sql_string(memory_limit)}")
        conn.execute("SET preserve_insertion_order = false")
        if temp_dir is not None:
            temp_dir.mkdir(parents=True, exist_ok=True)
            conn.execute(f"SET temp_directory = {sql_string(str(temp_dir))}")
        sql = landing_sql(sources)
        try:
            # RETURN_STATS: rows per written file, so nothing is read twice.
            written = conn.execute(
                f"COPY ({sql}) TO {sql_string(str(partial))} "
                "(FORMAT parquet, PARTITION_BY (year), COMPRESSION zstd, FILENAME_PATTERN 'part_{i}', RETURN_STATS)"
            ).fetchall()
        except duckdb.Error as exc:
            shutil.rmtree(partial, ignore_errors=True)
            names = ", ".join(str(s.path) for s in sources)
            raise LayoutError(
                f"{file_type}: could not read {names}: {exc}. The previous landing is kept; check the file is the "
                "release's pipe-delimited CSV"
            ) from exc
    partial.mkdir(exist_ok=True)  # a file of only a header writes no partition
    per_year: dict[int, int] = {}
    for _file, count, *_sizes, _stats, keys in written:
        year = int(keys["year"])
        per_year[year] = per_year.get(year, 0) + int(count)
    columns = {
        name: column_type(name)
        for source in sources
        for name in normalize(read_header(source.path))
        if name is not None
    }
    swap_folder(partial, out_dir)
    return Landed(file_type, per_year, columns)

"""ResDAC File Transfer Summaries (FTS) → layouts, and the checks a `.dat` must pass against its layout.

An FTS is written for people: a ``Key: Value`` header, then a column table whose column widths are given only by
the dashes line under its (two- or three-line) headings. Two variants exist: the fixed-width one (``Fld No. | Long
Name | Short Name | Generic Format | Start Col. | Len. w.d | Description``, the Short Name column missing in some
layouts) and the CSV one of MAX/MSIS (``Order | Column | SAS Type | SAS Format | Field Width | Label``). Counts carry
thousands commas, and a multi-part file lists several ``.dat`` names, each with ``(N Rows)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_FTS_BYTES = 4 * 1024 * 1024  # the largest real FTS (MedPAR, ~400 fields) is ~100 KB

_KEY_VALUE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 .#()/\-]*?)\s*:\s*(.*?)\s*$")
_DASHES = re.compile(r"^-+( +-+)+\s*$")
_PART = re.compile(r"^\s*(\S+\.(?:dat|csv))\s*(?:\(\s*([\d,]+)\s*Rows?\s*\))?\s*$", re.IGNORECASE)
_CSV_DATA_FILE = re.compile(r"Data File:\s*(\S+)\s+Rows:\s*([\d,]+)", re.IGNORECASE)


class LayoutError(ValueError):
    """An FTS that cannot be read, or a data file that disagrees with its FTS."""


@dataclass(frozen=True)
class Field:
    """One column: 1-based ``start`` as the FTS prints it; ``scale`` from ``w.d`` (digits after the point)."""

    number: int
    name: str
    short_name: str | None
    type: str  # CHAR | NUM | DATE
    start: int
    length: int
    scale: int
    description: str


@dataclass(frozen=True)
class DataPart:
    name: str
    rows: int | None


@dataclass(frozen=True)
class Layout:
    """What an FTS says about its file(s). ``declared_*`` are the header's values (None when absent or masked)."""

    source: str
    variant: str  # "fixed" | "csv"
    description: str
    parts: tuple[DataPart, ...]
    declared_columns: int | None
    declared_rows: int | None
    declared_record_length: int | None
    has_short_names: bool
    fields: tuple[Field, ...]

    @property
    def record_length(self) -> int:
        """Bytes per record (without the line end) that the fields span: the last byte any field reaches."""
        return max((f.start + f.length - 1 for f in self.fields), default=0)

    @property
    def rows(self) -> int | None:
        """Rows of the whole file: the header's count, else the sum of the parts' counts when each has one."""
        if self.declared_rows is not None:
            return self.declared_rows
        counts = [p.rows for p in self.parts]
        return sum(counts) if counts and all(c is not None for c in counts) else None  # type: ignore[misc]

    def column_names(self) -> list[str]:
        """Lower-case long names, the table's column names (long names are unique; short ones are not always)."""
        return [f.name.lower() for f in self.fields]


def parse_count(text: str) -> int:
    """``"1,000,000"`` → 1000000 (also the masked ``"1000000,818,481"`` of the synthetic FTS)."""
    digits = text.replace(",", "").strip()
    if not digits.isdigit():
        raise LayoutError(f"not a count: {text!r}")
    return int(digits)


def _header(lines: list[str]) -> tuple[dict[str, str], list[DataPart]]:
    """The ``Key: Value`` pairs before the column table, and the data parts they name."""
    values: dict[str, str] = {}
    parts: list[DataPart] = []
    in_file_names = False
    for line in lines:
        match = _CSV_DATA_FILE.search(line)
        if match:
            if match.group(1).lower() != "total":
                parts.append(DataPart(match.group(1), parse_count(match.group(2))))
            continue
        kv = _KEY_VALUE.match(line)
        if kv and not _PART.match(line):
            key, value = kv.group(1).strip(), kv.group(2)
            values.setdefault(key, value)
            in_file_names = key.lower() == "actual file name"
            if in_file_names:
                part = _PART.match(value)
                if part:
                    parts.append(DataPart(part.group(1), parse_count(part.group(2)) if part.group(2) else None))
            continue
        if in_file_names:  # continuation lines of a multi-part "Actual File Name"
            part = _PART.match(line)
            if part:
                parts.append(DataPart(part.group(1), parse_count(part.group(2)) if part.group(2) else None))
            elif line.strip():
                in_file_names = False
    return values, parts


def _spans(dashes: str) -> list[tuple[int, int]]:
    """Column spans from the dashes line; each span reaches the next one's start, the last the end of the line."""
    starts = [m.start() for m in re.finditer(r"-+", dashes)]
    return [(s, starts[i + 1] if i + 1 < len(starts) else 10_000) for i, s in enumerate(starts)]


def _headings(heading_lines: list[str], spans: list[tuple[int, int]]) -> list[str]:
    """Each column's heading words, joined top to bottom ("Fld. Len. w.d", "Field Short Name", ...)."""
    return [" ".join(w for line in heading_lines if (w := line[s:e].strip())).lower() for s, e in spans]


def _role(heading: str) -> str:
    words = heading.replace(".", "").split()
    if "short" in words:
        return "short_name"
    if "long" in words or words[-1:] == ["column"]:
        return "name"
    if "start" in words:
        return "start"
    if "len" in words or "width" in words:
        return "length"
    if "generic" in words or words == ["sas", "type"]:
        return "type"
    if "format" in words:
        return "sas_format"
    if "description" in words or "label" in words:
        return "description"
    if "no" in words or "order" in words:
        return "number"
    raise LayoutError(f"unknown column heading {heading!r}")


def parse_fts(text: str, source: str = "<fts>") -> Layout:
    """Parse an FTS (either variant) into a layout; raise ``LayoutError`` naming ``source`` when it cannot."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    dash_at = next((i for i, line in enumerate(lines) if _DASHES.match(line)), None)
    if dash_at is None:  # a header page alone (some deliveries split it from the column table)
        values, parts = _header(lines)
        return _layout(
            source, values, parts, "csv" if "comma" in values.get("Format", "").lower() else "fixed", [], False
        )
    spans = _spans(lines[dash_at])
    first_heading = dash_at
    while first_heading > 0 and lines[first_heading - 1].strip() and not _KEY_VALUE.match(lines[first_heading - 1]):
        first_heading -= 1
    try:
        roles = [_role(h) for h in _headings(lines[first_heading:dash_at], spans)]
    except LayoutError as error:
        raise LayoutError(f"{source}, line {first_heading + 1}: {error}") from None
    values, parts = _header(lines[:first_heading])
    variant = "csv" if "sas_format" in roles else "fixed"
    missing = {"name", "length"} - set(roles) | ({"start"} - set(roles) if variant == "fixed" else set())
    if missing:
        raise LayoutError(f"{source}: the column table has no {', '.join(sorted(missing))} column")
    fields: list[Field] = []
    position = 1
    for offset, line in enumerate(lines[dash_at + 1 :], start=dash_at + 2):
        if not line.strip() or line.lstrip().startswith(("Note:", "- End of Document")):
            break
        cells = {role: line[s:e].strip() for role, (s, e) in zip(roles, spans, strict=True)}
        try:
            width, _, decimals = cells["length"].partition(".")
            length = int(width)
            scale = int(decimals) if decimals else 0
            start = int(cells["start"]) if variant == "fixed" else position
            number = int(cells.get("number") or len(fields) + 1)
        except ValueError as error:
            raise LayoutError(f"{source}, line {offset}: cannot read the field row {line.strip()!r}") from error
        if not cells["name"] or length <= 0:
            raise LayoutError(f"{source}, line {offset}: a field row without a name or a positive length")
        position = start + length
        fields.append(
            Field(
                number=number,
                name=cells["name"],
                short_name=cells.get("short_name") or None,
                type=(cells.get("type") or "CHAR").upper(),
                start=start,
                length=length,
                scale=scale,
                description=cells.get("description", ""),
            )
        )
    if not fields:
        raise LayoutError(f"{source}: the column table lists no fields")
    return _layout(source, values, parts, variant, fields, "short_name" in roles)


def _layout(
    source: str, values: dict[str, str], parts: list[DataPart], variant: str, fields: list[Field], short: bool
) -> Layout:
    names = [f.name.lower() for f in fields]
    if len(set(names)) != len(names):
        raise LayoutError(f"{source}: duplicate field names {sorted({n for n in names if names.count(n) > 1})}")

    def count(*keys: str) -> int | None:
        for key in values:
            if any(key.lower().startswith(k) for k in keys):
                try:
                    return parse_count(values[key])
                except LayoutError:
                    return None
        return None

    return Layout(
        source=source,
        variant=variant,
        description=values.get("File Description") or values.get("Data", ""),
        parts=tuple(parts),
        declared_columns=count("columns in file"),
        declared_rows=count("exact file quantity"),
        declared_record_length=count("exact file record length"),
        has_short_names=short,
        fields=tuple(fields),
    )


def read_fts(path: Path) -> Layout:
    """Parse an FTS file; bounded in size (it is untrusted input), read as Latin-1 (CMS writes plain ASCII)."""
    size = path.stat().st_size
    if size > MAX_FTS_BYTES:
        raise LayoutError(f"{path}: {size:,} bytes is larger than any FTS ({MAX_FTS_BYTES:,} allowed)")
    return parse_fts(path.read_text(encoding="latin-1"), source=str(path))


def consistency_errors(layout: Layout) -> list[str]:
    """Where the FTS contradicts itself: field count, record length, overlapping or gapped fields."""
    if not layout.fields:
        return ["lists no fields (a header page without its column table)"]
    errors = []
    if layout.declared_columns is not None and layout.declared_columns != len(layout.fields):
        errors.append(f"declares {layout.declared_columns} columns but lists {len(layout.fields)}")
    if layout.variant == "fixed":
        if layout.declared_record_length is not None and layout.declared_record_length != layout.record_length:
            errors.append(
                f"declares record length {layout.declared_record_length} but its fields span {layout.record_length}"
            )
        for before, after in zip(layout.fields, layout.fields[1:], strict=False):
            if after.start != before.start + before.length:
                errors.append(f"field {after.name} starts at {after.start}, not {before.start + before.length}")
                break
    return errors


def check_data_file(layout: Layout, path: Path, expected_rows: int | None) -> int:
    """Refuse a fixed-width ``.dat`` whose record length or row count disagrees with ``layout``; return its rows.

    Lines end in ``\\n`` (or ``\\r\\n``); every record is exactly ``record_length`` bytes, so the size alone tells
    the row count, and the first line's length tells the record length, without reading the file.
    """
    errors = consistency_errors(layout)
    if errors:
        raise LayoutError(f"{layout.source}: the FTS contradicts itself ({'; '.join(errors)}); fix or replace it")
    with path.open("rb") as handle:
        first = handle.readline(layout.record_length + 3)
    if not first:
        if expected_rows:
            raise LayoutError(f"{path}: empty, expected {expected_rows:,} rows")
        return 0
    ending = 2 if first.endswith(b"\r\n") else 1 if first.endswith(b"\n") else 0
    found_length = len(first) - ending
    if not ending or found_length != layout.record_length:
        found = f"{found_length}" if ending else f"more than {layout.record_length + 2} (no line end)"
        raise LayoutError(
            f"{path}: record length expected {layout.record_length} (from {Path(layout.source).name}), found {found}"
        )
    size = path.stat().st_size
    line = layout.record_length + ending
    rows, rest = divmod(size, line)
    if rest:
        raise LayoutError(
            f"{path}: record length expected {layout.record_length} on every line, but the size {size:,} is not a "
            f"multiple of {line} bytes (a line of another length, or a truncated last line)"
        )
    if expected_rows is not None and rows != expected_rows:
        raise LayoutError(f"{path}: row count expected {expected_rows:,} (from the FTS), found {rows:,}")
    return rows

"""OPPS Addendum A (APC → payment rate) and Addendum B (HCPCS → SI, APC, weight, rate): pure parsers.

Both are CMS's "Section 508" CSVs: title and notes in the first rows (column A empty), then the header row, then one
row per APC or code; amounts with ``$``, thousands commas and three decimals in A, plain numbers in B; ``.`` or a
single space for "none". A row is kept when its first cell is a code; blank and ``NOTE`` rows are skipped; anything
else is an error naming the row, so a changed layout fails loudly instead of dropping rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from medicaid_assets.defs.reference.fee_schedules.opps_asc_cells import (
    HCPCS_RE,
    AddendumFormatError,
    clean,
    header_name,
    money,
    number,
    rows,
    text_or_none,
)

APC_RE = re.compile(r"^\d{1,4}$")
_TITLE_YEAR = re.compile(r"\bCY\s*(\d{4})\b")

# header name (lower case, month removed) -> (column, kind); kinds: text, money, number, code, flag
_COMMON = {
    "si": ("status_indicator", "text"),
    "relative weight": ("relative_weight", "number"),
    "payment rate": ("payment_rate", "money"),
    "national unadjusted copayment": ("national_unadjusted_copayment", "money"),
    "minimum unadjusted copayment": ("minimum_unadjusted_copayment", "money"),
    "ira coinsurance percentage": ("ira_coinsurance_pct", "number"),
    "adjusted beneficiary copayment": ("adjusted_beneficiary_copayment", "money"),
    "drug and device pass-through expiration during calendar year": ("pass_through_expiration", "text"),
    "note": ("note", "text"),
}
ADDENDUM_A = {"apc": ("apc", "apc"), "group title": ("group_title", "text"), **_COMMON}
ADDENDUM_B = {
    "hcpcs code": ("hcpcs", "code"),
    "short descriptor": ("short_descriptor", "text"),
    "apc": ("apc", "apc"),
    **_COMMON,
    "* indicates a change": ("changed", "flag"),
}


@dataclass(frozen=True)
class Addendum:
    """Parsed rows (dicts with every column of the layout, None where the file has nothing) and what the file says
    about itself: its title, calendar year and the month named in its headers (ASC only)."""

    title: str
    year: int | None
    month: str | None
    rows: list[dict[str, object]]
    columns: tuple[str, ...]


def _apc(cell: str, where: str) -> str | None:
    text = clean(cell)
    if not text:
        return None
    if not APC_RE.match(text):
        raise AddendumFormatError(f"{where}: APC {cell!r} is not 1-4 digits")
    return text.zfill(4)  # spreadsheets drop the zeros of 0764


def _flag(cell: str, where: str) -> bool:
    return bool(clean(cell))


CONVERTERS: Mapping[str, Callable[[str, str], object]] = {
    "text": lambda cell, where: text_or_none(cell),
    "money": money,
    "number": number,
    "apc": _apc,
    "code": lambda cell, where: clean(cell).upper(),
    "flag": _flag,
}


def parse_addendum(
    text: str, layout: Mapping[str, tuple[str, str]], source: str, unnamed: Mapping[int, str] | None = None
) -> Addendum:
    """Rows of one addendum whose header row starts with ``layout``'s first name; ``source`` names the file in errors.

    ``unnamed`` keeps columns the header leaves blank, by position, as text (``{1: "marker"}`` for Addendum AA).
    """
    key_name = next(iter(layout))
    columns = (*(column for column, _ in layout.values()), *(unnamed or {}).values())
    key_kind = layout[key_name][1]
    title_lines: list[str] = []
    header: list[tuple[int, str, str]] | None = None
    month: str | None = None
    out: list[dict[str, object]] = []
    for number_, cells in enumerate(rows(text), start=1):
        where = f"{source} row {number_}"
        first = clean(cells[0]) if cells else ""
        if header is None:
            if header_name(first)[0] == key_name:
                header, month = _header(cells, layout, where)
                header += [(i, column, "text") for i, column in (unnamed or {}).items() if not clean(cells[i])]
            else:
                title_lines += [clean(c) for c in cells if clean(c)]
            continue
        if not first or first.upper().startswith("NOTE"):
            continue
        if key_kind == "code" and not HCPCS_RE.match(first.upper()):
            raise AddendumFormatError(f"{where}: {first!r} is not a HCPCS code (header {key_name!r})")
        row: dict[str, object] = {column: None for column in columns}
        for index, column, kind in header:
            cell = cells[index] if index < len(cells) else ""
            row[column] = CONVERTERS[kind](cell, f"{where} field {column!r}")
        out.append(row)
    if header is None:
        raise AddendumFormatError(f"{source}: no header row starting with {key_name!r}; is this the right addendum?")
    title = " ".join(title_lines[:1])
    year = _TITLE_YEAR.search(title)
    return Addendum(title, int(year.group(1)) if year else None, month, out, columns)


def _header(
    cells: list[str], layout: Mapping[str, tuple[str, str]], where: str
) -> tuple[list[tuple[int, str, str]], str | None]:
    """(position, column, kind) of each known header; unnamed columns are skipped, unknown names are an error."""
    found: list[tuple[int, str, str]] = []
    months = set()
    for index, cell in enumerate(cells):
        name, month = header_name(cell)
        if not name:
            continue
        if name not in layout:
            raise AddendumFormatError(f"{where}: unknown column {clean(cell)!r}; known: {sorted(layout)}")
        months.add(month)
        found.append((index, *layout[name]))
    required = {layout[name][0] for name in list(layout)[:2]} | {"payment_rate"}
    missing = required - {column for _, column, _ in found}
    if missing:
        raise AddendumFormatError(f"{where}: header lacks {sorted(missing)}")
    named = sorted(m for m in months if m)
    return found, named[0] if named else None


def parse_addendum_a(text: str, source: str = "Addendum A") -> Addendum:
    return parse_addendum(text, ADDENDUM_A, source)


def parse_addendum_b(text: str, source: str = "Addendum B") -> Addendum:
    return parse_addendum(text, ADDENDUM_B, source)

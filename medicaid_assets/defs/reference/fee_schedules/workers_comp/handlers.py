"""The registry of state handlers and the one row shape they all produce (pure, no Dagster).

States publish no common format: Georgia and North Carolina publish full code tables, others say "N % of Medicare".
Each handler turns its state's publication into :class:`WcRow`s, one per code × modifier × setting; a state joins by
registering a handler under its postal code with :func:`register`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SETTINGS = ("professional", "professional_nonfacility", "professional_facility", "opps", "asc", "anesthesia")
COLUMNS = {
    "state": "VARCHAR",
    "schedule_year": "INTEGER",
    "code": "VARCHAR",
    "modifier": "VARCHAR",
    "description": "VARCHAR",
    "category": "VARCHAR",
    "setting": "VARCHAR",
    "max_amount": "DOUBLE",
    "base_units": "DOUBLE",
    "basis": "VARCHAR",
}
_AMOUNT = re.compile(r"^-?[0-9]*\.?[0-9]+$")


class WcFormatError(ValueError):
    """A fee-schedule file that does not have its state's layout (names file, row and field)."""


@dataclass(frozen=True)
class WcRow:
    state: str
    schedule_year: int | None  # from the file name (`2024-ga-fee-schedule.xlsx`); None when it names no year
    code: str
    modifier: str
    description: str | None
    category: str | None
    setting: str
    max_amount: float | None  # None: "by report" (BR), blank, or a formula cell left as text
    base_units: float | None = None  # anesthesia only
    basis: str = "fee_schedule"  # or "medicare_multiplier"


@dataclass
class WcParse:
    """Rows, and what a reader should know: cells that were formulas (not values) and by-report codes."""

    rows: list[WcRow] = field(default_factory=list)
    formula_cells: list[str] = field(default_factory=list)
    by_report: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # sheets without a code table


Sheets = Mapping[str, list[list[str]]]  # sheet or file name -> rows of cells as text
Handler = Callable[[Sheets, int | None], WcParse]
HANDLERS: dict[str, Handler] = {}


def register(state: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``state`` (postal code); one handler per state."""

    def add(handler: Handler) -> Handler:
        if state in HANDLERS:
            raise ValueError(f"a workers'-comp handler for {state} is already registered")
        HANDLERS[state] = handler
        return handler

    return add


def handler_for(state: str) -> Handler:
    try:
        return HANDLERS[state]
    except KeyError:
        raise KeyError(f"no workers'-comp handler for {state!r}; registered: {sorted(HANDLERS)}") from None


def restore_code(cell: str) -> str:
    """A CPT code a spreadsheet stored as a number gets its leading zeros back: ``100`` → ``00100``."""
    text = cell.strip().upper()
    if text.endswith(".0"):
        text = text[:-2]
    return text.zfill(5) if text.isdigit() and len(text) < 5 else text


def split_code_modifier(cell: str) -> tuple[str, str]:
    """``45378-53`` → (``45378``, ``53``); ``71046`` → (``71046``, ``""``)."""
    code, _, modifier = cell.strip().partition("-")
    return restore_code(code), modifier.strip().upper()


def amount(cell: str, where: str, parse: WcParse) -> float | None:
    """A maximum in dollars; blank and ``BR`` → None (``BR`` is counted), a formula is counted and left out."""
    text = cell.strip().replace("$", "").replace(",", "")
    if not text:
        return None
    if text.startswith("="):
        parse.formula_cells.append(f"{where}: {text}")
        return None
    if text.upper() == "BR":
        parse.by_report.append(where)
        return None
    if not _AMOUNT.match(text):
        raise WcFormatError(f"{where}: {cell!r} is not an amount")
    return float(text)


def csv_rows(data: bytes) -> list[list[str]]:
    """Rows of a CSV file; bytes as UTF-8 (exports of the workbooks) else Windows-1252."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    return list(csv.reader(io.StringIO(text, newline="")))


def xlsx_sheets(path: Path, max_rows: int = 200_000) -> dict[str, list[list[str]]]:
    """Every sheet of a workbook as text cells, as stored: numbers as Python writes them (``100``, ``127.7``) and
    formulas as their text (``=H588*0.9``; no spreadsheet engine computes them here). Read-only mode streams rows."""
    import openpyxl  # only the workbook states need it

    book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        out: dict[str, list[list[str]]] = {}
        for sheet in book.worksheets:
            rows: list[list[str]] = []
            for row in sheet.iter_rows(values_only=True):
                if len(rows) >= max_rows:
                    raise WcFormatError(f"{path.name} sheet {sheet.title!r}: more than {max_rows:,} rows")
                rows.append(["" if v is None else v if isinstance(v, str) else repr(v) for v in row])
            out[sheet.title] = rows
        return out
    finally:
        book.close()


def header_index(header: Iterable[str], wanted: Mapping[str, tuple[str, ...]], where: str) -> dict[str, int]:
    """Positions of the wanted columns (each by any of its spellings, case-insensitive); a missing one is an error."""
    names = [h.strip().upper() for h in header]
    out = {}
    for column, spellings in wanted.items():
        hits = [i for i, name in enumerate(names) if name in spellings]
        if not hits:
            raise WcFormatError(f"{where}: no column {' / '.join(spellings)} in header {names}")
        out[column] = hits[0]
    return out

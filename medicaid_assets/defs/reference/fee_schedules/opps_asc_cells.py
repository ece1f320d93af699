"""Cells as the CMS OPPS and ASC addenda spell them, made into values (pure, no Dagster).

The addenda are hand-kept spreadsheets saved as CSV, and every release differs a little: the bytes are UTF-8 in one
file and Windows-1252 in the next (the copyright line carries NBSPs as 0xA0 or 0xFF), amounts come as
``"$4,146.335"`` or ``613.1``, a missing value is ``.``, a single space or nothing, headers carry the release month
(``January 2025  Payment Weight  ``) with doubled and trailing spaces, and the title may hold a line break inside
its quotes. These helpers make the parsers agree on all of that.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")  # fmt: skip
MISSING = frozenset({"", ".", "-", "n/a", "na"})
HCPCS_RE = re.compile(r"^[A-Z0-9]{5}$")
_SPACES = re.compile(r"\s+")
_MONTH_PREFIX = re.compile(r"^(" + "|".join(MONTHS) + r")\s+(\d{4})\s+", re.IGNORECASE)
_MONEY = re.compile(r"^-?\$?-?[0-9,]*\.?[0-9]*$")


class AddendumFormatError(ValueError):
    """A file that is not the addendum it should be (no header row, a malformed amount): names file, row, field."""


def decode(data: bytes) -> str:
    """UTF-8 when it is valid, else Windows-1252 (the older addenda); NBSPs become plain spaces."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.replace("\u00a0", " ")


def rows(text: str) -> Iterator[list[str]]:
    """CSV rows; a quoted field may span lines (the 2026 ASC title does)."""
    yield from csv.reader(io.StringIO(text, newline=""))


def clean(cell: str) -> str:
    """Whitespace runs (NBSPs included) collapsed and trimmed."""
    return _SPACES.sub(" ", cell.replace("\u00a0", " ")).strip()


def header_name(cell: str) -> tuple[str, str | None]:
    """(name without the release month, ``"January 2025"`` or None): ``January 2025  Payment Weight `` → payment weight."""
    text = clean(cell)
    match = _MONTH_PREFIX.match(text)
    if match is None:
        return text.lower(), None
    return text[match.end() :].lower(), f"{match.group(1).title()} {match.group(2)}"


def money(cell: str, where: str) -> float | None:
    """``$4,146.335``, ``"$1,644.87 "``, ``613.1`` → float; ``.``, a space or nothing → None."""
    text = clean(cell)
    if text.lower() in MISSING:
        return None
    if not _MONEY.match(text) or not any(c.isdigit() for c in text):
        raise AddendumFormatError(f"{where}: {cell!r} is not an amount")
    return float(text.replace("$", "").replace(",", ""))


def number(cell: str, where: str) -> float | None:
    """A relative weight or percentage (``144.2970``, ``19.787%``); missing → None."""
    return money(clean(cell).rstrip("%"), where)


def text_or_none(cell: str) -> str | None:
    text = clean(cell)
    return None if text.lower() in MISSING else text


def release_of(month: str | None) -> str | None:
    """The quarter a release month starts: ``"October 2025"`` → ``2025Q4``."""
    if month is None:
        return None
    name, year = month.lower().split()
    return f"{year}Q{MONTHS.index(name) // 3 + 1}"

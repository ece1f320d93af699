"""The CPT/HCPCS fallback: one described row per procedure code, from every parsable file under ``raw/cpt``.

Parsers (pure, over lines of text) for the files CMS publishes, each checked against real samples in
``medicaid_assets/formats``:

* PPRRVU, CSV (a 9-line preamble, then the header ``HCPCS,MOD,DESCRIPTION,CODE,…`` with duplicate
  names, so columns are taken by position) or fixed width (``HDR`` lines, then records with the code in
  columns 1-5, modifier 6-7, description 8-57 and status 58, per the RVU file documentation). Only the
  rows without a modifier describe a code; their descriptor is the public short descriptor, which is
  what the original lost by reading the payment file alone. Status ``D``/``F`` (deleted) marks it obsolete.
* The HCPCS Level II annual file (CSV with ``HCPC, SEQNUM, RECID, LONG_DESCRIPTION, …``): ``RECID`` 3
  starts a procedure record and 4 continues its long description, joined in ``SEQNUM`` order; 7/8 are
  modifier records and skipped. Dates stay ``YYYYMMDD`` as the HCPCS API writes them; a code with a
  termination date is obsolete.
* The payment-amount file (``PFALL*.txt``, quoted, no header: code field 3, status field 9) and the PFS
  status-code tables: status meaning only, as in the original. These rows are placeholders and never
  beat a row from a file that describes the procedure.
* Any delimited file (``, | tab ;``) whose header names a code column and a description column
  (the original's aliases, compared as lower-case alphanumerics).

Codes are normalised (whitespace removed, a trailing ``.0`` dropped, upper case) and kept only when
they match ``^[A-Z0-9]{5}$``. Among a code's rows the richest wins: a real description before a
placeholder, then has/length of ``long_desc``, then has/length of ``short_desc``; on a tie the file
that sorts first. ``is_noc`` is true when a description says "not otherwise classified" or has the word
"NOC" (the Level II convention), unless a file states it in its own column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import TextIO, TypeVar

from medicaid_assets.core.atomic import atomic_write
from medicaid_assets.core.values import parse_bool
from medicaid_assets.defs.reference.code_sets.keys import RECORD_FIELDS

COLUMNS = ("hcpcs_code", *RECORD_FIELDS, "source_file")
CODE_RE = re.compile(r"^[A-Z0-9]{5}$")
NOC_RE = re.compile(r"not otherwise classified|\bnoc\b", re.IGNORECASE)
CANDIDATE_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
DELIMITERS = ",|\t;"
HEAD_LINES = 20
T = TypeVar("T")

PPRRVU_HEADER = ("HCPCS", "MOD", "DESCRIPTION")
PPRRVU_DELETED = frozenset({"D", "F"})  # status D "Deleted Codes", F "Deleted/Discontinued Codes"
# Fixed-width PPRRVU record (RVU file documentation, 1-based columns): code 1-5, modifier 6-7,
# description 8-57, status 58.
FW_CODE, FW_MOD, FW_DESC, FW_STATUS = slice(0, 5), slice(5, 7), slice(7, 57), 57
PAYMENT_FILE_RE = re.compile(r"^pfall.*\.txt$", re.IGNORECASE)
PAYMENT_CODE_FIELD, PAYMENT_STATUS_FIELD = 3, 9
LEVEL2_DESC_WIDTH = 80  # width of the annual file's long-description field (record layout cols 12-91)
LEVEL2_FIRST, LEVEL2_CONTINUED = "3", "4"

CODE_ALIASES = ("hcpcs_code", "cpt_code", "procedure_code", "billing_code", "code", "hcpcs", "cpt")
SHORT_ALIASES = ("short_desc", "short_description", "desc_short", "display")
LONG_ALIASES = ("long_desc", "long_description", "description", "desc_long")
ADD_ALIASES = ("add_dt", "add_date")
EFF_ALIASES = ("act_eff_dt", "act_eff_date", "effective_date", "effective_dt")
TERM_ALIASES = ("term_dt", "term_date", "end_date")
OBSOLETE_ALIASES = ("obsolete", "is_obsolete")
NOC_ALIASES = ("is_noc", "noc")
STATUS_CODE_ALIASES = ("status_code",)
STATUS_DESC_ALIASES = ("description", "long_desc", "long_description")


class FallbackError(ValueError):
    """A file that claims a known layout but does not follow it; the message names the file."""


@dataclass(frozen=True)
class CodeRow:
    """One candidate row of the fallback; ``placeholder`` rows carry a status meaning, no description."""

    hcpcs_code: str
    short_desc: str = ""
    long_desc: str = ""
    add_dt: str = ""
    act_eff_dt: str = ""
    term_dt: str = ""
    obsolete: bool = False
    is_noc: bool = False
    source_file: str = ""
    placeholder: bool = False

    def richness(self) -> tuple[bool, bool, int, bool, int]:
        return (
            not self.placeholder,
            bool(self.long_desc),
            len(self.long_desc),
            bool(self.short_desc),
            len(self.short_desc),
        )

    def values(self) -> list[str]:
        """The row as written, in :data:`COLUMNS` order (booleans as ``true``/``false``)."""
        out = []
        for name in COLUMNS:
            value = getattr(self, name)
            out.append(("true" if value else "false") if isinstance(value, bool) else value)
        return out


def normalise_code(raw: str) -> str | None:
    """The canonical spelling of ``raw`` (``" 99213.0"`` → ``99213``), or None when it is no 5-character code."""
    code = re.sub(r"\s+", "", raw).removesuffix(".0").upper()
    return code if CODE_RE.match(code) else None


def is_noc_wording(*texts: str) -> bool:
    return any(NOC_RE.search(t) for t in texts)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _pick(header: list[str], aliases: Iterable[str]) -> int | None:
    """Index of the first alias (in alias order) the normalised header has."""
    keys = [_key(h) for h in header]
    return next((keys.index(k) for k in map(_key, aliases) if k in keys), None)


def sniff_delimiter(line: str) -> str | None:
    """The candidate delimiter that splits the header line most, or None when none does."""
    counts = {d: line.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else None


def _raw(row: list[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""


def _field(row: list[str], index: int | None) -> str:
    return _raw(row, index).strip()


def _is_pprrvu_header(line: str) -> bool:
    fields = next(csv.reader([line]), [])
    return tuple(f.strip().upper() for f in fields[:3]) == PPRRVU_HEADER


def _pprrvu_row(code: str, desc: str, status: str, source: str) -> CodeRow:
    return CodeRow(
        hcpcs_code=code,
        short_desc=desc,
        obsolete=status.upper() in PPRRVU_DELETED,
        is_noc=is_noc_wording(desc),
        source_file=source,
    )


def parse_pprrvu_csv(lines: Iterable[str], source: str) -> Iterator[CodeRow]:
    """Descriptor rows (no modifier) of a PPRRVU CSV: code, descriptor, status by position after the header."""
    it = iter(lines)
    if not any(_is_pprrvu_header(line) for line in it):
        raise FallbackError(f"{source}: no PPRRVU header line starting {','.join(PPRRVU_HEADER)}")
    for row in csv.reader(it):
        code = normalise_code(_field(row, 0))
        if code and not _field(row, 1) and _field(row, 2):
            yield _pprrvu_row(code, _field(row, 2), _field(row, 3), source)


def _is_fixed_width_record(line: str) -> bool:
    line = line.rstrip("\r\n")
    return len(line) > FW_STATUS and bool(normalise_code(line[FW_CODE])) and line[FW_STATUS].isalpha()


def parse_pprrvu_fixed_width(lines: Iterable[str], source: str) -> Iterator[CodeRow]:
    """Descriptor rows (no modifier) of a fixed-width PPRRVU file; ``HDR`` lines are skipped."""
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("HDR") or len(line) <= FW_STATUS:
            continue
        code = normalise_code(line[FW_CODE])
        desc = line[FW_DESC].strip()
        if code and not line[FW_MOD].strip() and desc:
            yield _pprrvu_row(code, desc, line[FW_STATUS], source)


def join_continuations(chunks: Iterable[str], width: int = LEVEL2_DESC_WIDTH) -> str:
    """Concatenate long-description chunks; a space the writer trimmed at a word break is put back.

    A chunk shorter than the field that ends without a space was cut after a space that a
    spreadsheet export trimmed; a full-width chunk may end mid-word and joins directly.
    """
    text, previous = "", ""
    for chunk in chunks:
        if previous and len(previous) < width and not previous[-1].isspace() and chunk and not chunk[0].isspace():
            text += " "
        text += chunk
        previous = chunk
    return text.strip()


def parse_level2_csv(lines: Iterable[str], source: str) -> Iterator[CodeRow]:
    """Procedure records of the HCPCS Level II annual file (RECID 3 + its RECID 4 continuations)."""
    reader = csv.reader(lines)
    header = next(reader, [])
    col = {name: _pick(header, [name]) for name in ("hcpc", "seqnum", "recid", "long_description")}
    if any(i is None for i in col.values()):
        raise FallbackError(f"{source}: not a Level II annual file (needs HCPC, SEQNUM, RECID, LONG_DESCRIPTION)")
    short, add, eff, term = (_pick(header, [n]) for n in ("short_description", "add_dt", "act_eff_dt", "term_dt"))
    by_code: dict[str, list[tuple[str, str, list[str]]]] = {}
    for row in reader:
        recid = _field(row, col["recid"])
        code = normalise_code(_field(row, col["hcpc"]))
        if code and recid in (LEVEL2_FIRST, LEVEL2_CONTINUED):
            by_code.setdefault(code, []).append((_field(row, col["seqnum"]).zfill(5), recid, row))
    for code, parts in by_code.items():
        parts.sort(key=lambda p: p[0])
        records: list[list[list[str]]] = []
        for _, recid, row in parts:
            if recid == LEVEL2_FIRST:
                records.append([row])
            elif records:  # a continuation without its first record describes nothing
                records[-1].append(row)
        for rows in records:
            first = rows[0]
            long_desc = join_continuations(_raw(r, col["long_description"]) for r in rows)
            short_desc = _field(first, short)
            term_dt = _field(first, term)
            yield CodeRow(
                hcpcs_code=code,
                short_desc=short_desc,
                long_desc=long_desc,
                add_dt=_field(first, add),
                act_eff_dt=_field(first, eff),
                term_dt=term_dt,
                obsolete=bool(term_dt),
                is_noc=is_noc_wording(short_desc, long_desc),
                source_file=source,
            )


def parse_status_table(lines: Iterable[str], source: str) -> dict[str, str]:
    """PFS status code → its meaning, from a ``Status Code,Description`` table."""
    reader = csv.reader(lines)
    header = next(reader, [])
    code_i, desc_i = _pick(header, STATUS_CODE_ALIASES), _pick(header, STATUS_DESC_ALIASES)
    if code_i is None or desc_i is None:
        raise FallbackError(f"{source}: not a status-code table (needs Status Code and Description columns)")
    return {
        _field(row, code_i).upper(): _field(row, desc_i)
        for row in reader
        if _field(row, code_i) and _field(row, desc_i)
    }


def parse_payment_file(lines: Iterable[str], source: str, statuses: dict[str, str]) -> Iterator[CodeRow]:
    """One placeholder row per code of a ``PFALL*.txt`` payment-amount file (the original's wording)."""
    seen: set[str] = set()
    for row in csv.reader(lines):
        code = normalise_code(_field(row, PAYMENT_CODE_FIELD))
        if not code or code in seen:
            continue
        seen.add(code)
        status = _field(row, PAYMENT_STATUS_FIELD).upper()
        short = f"CPT/HCPCS code from CMS PFS file (status {status})" if status else "CPT/HCPCS code from CMS PFS file"
        yield CodeRow(
            hcpcs_code=code,
            short_desc=short,
            long_desc=statuses.get(status) or short,
            source_file=source,
            placeholder=True,
        )


def parse_delimited(lines: Iterable[str], source: str) -> Iterator[CodeRow]:
    """Rows of any delimited file whose header names a code column and a description column."""
    it = iter(lines)
    first = next(it, "")
    delimiter = sniff_delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter or ","), [])
    code_i = _pick(header, CODE_ALIASES)
    short_i, long_i = _pick(header, SHORT_ALIASES), _pick(header, LONG_ALIASES)
    if delimiter is None or code_i is None or (short_i is None and long_i is None):
        raise FallbackError(f"{source}: header names no code column and description column")
    add_i, eff_i, term_i = _pick(header, ADD_ALIASES), _pick(header, EFF_ALIASES), _pick(header, TERM_ALIASES)
    obsolete_i, noc_i = _pick(header, OBSOLETE_ALIASES), _pick(header, NOC_ALIASES)
    for row in csv.reader(it, delimiter=delimiter):
        code = normalise_code(_field(row, code_i))
        short, long = _field(row, short_i), _field(row, long_i)
        if not code or not (short or long):
            continue
        yield CodeRow(
            hcpcs_code=code,
            short_desc=short,
            long_desc=long,
            add_dt=_field(row, add_i),
            act_eff_dt=_field(row, eff_i),
            term_dt=_field(row, term_i),
            obsolete=parse_bool(_field(row, obsolete_i)),
            is_noc=parse_bool(_field(row, noc_i)) if noc_i is not None else is_noc_wording(short, long),
            source_file=source,
        )


def classify(name: str, head: list[str]) -> str | None:
    """Which parser reads a file, from its name and first lines; None when none does."""
    if PAYMENT_FILE_RE.match(name):
        return "payment"
    if not head:
        return None
    if any(_is_pprrvu_header(line) for line in head):
        return "pprrvu_csv"
    records = [line for line in head if not line.startswith("HDR")]
    if head[0].startswith("HDR") and records and _is_fixed_width_record(records[0]):
        return "pprrvu_fixed_width"
    delimiter = sniff_delimiter(head[0])
    if delimiter is None:
        return None
    header = next(csv.reader([head[0]], delimiter=delimiter), [])
    keys = {_key(h) for h in header}
    if {"hcpc", "seqnum", "recid", "longdescription"} <= keys:
        return "level2"
    if _pick(header, STATUS_CODE_ALIASES) is not None and _pick(header, STATUS_DESC_ALIASES) is not None:
        return "status_table"
    if _pick(header, CODE_ALIASES) is not None and (
        _pick(header, SHORT_ALIASES) is not None or _pick(header, LONG_ALIASES) is not None
    ):
        return "delimited"
    return None


def _read(path: Path, consume: Callable[[TextIO], T]) -> T:
    """``consume`` the file's lines as UTF-8, or again as Latin-1 when it is not UTF-8 (older CMS files).

    Malformed CSV (a field past the csv module's limit, an unbalanced quote) is a :class:`FallbackError` that names
    the file, so the build stops instead of reading garbage, and the previous fallback stays in place.
    """
    try:
        try:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                return consume(fh)
        except UnicodeDecodeError:
            with path.open(encoding="latin-1", newline="") as fh:
                return consume(fh)
    except csv.Error as exc:
        raise FallbackError(f"{path}: malformed CSV ({exc}); the fallback was not rebuilt") from exc


# Layouts read with the csv module: checked with strict quoting first, since a lenient read of an unbalanced quote
# swallows every line after it into one field and the codes on them would vanish without a word.
CSV_KINDS = frozenset({"pprrvu_csv", "level2", "delimited", "status_table"})


def _strict_csv(fh: TextIO) -> None:
    first = fh.readline()
    reader = csv.reader(chain([first], fh), delimiter=sniff_delimiter(first.rstrip("\r\n")) or ",", strict=True)
    try:
        for _ in reader:
            pass
    except csv.Error as exc:
        raise csv.Error(f"line {reader.line_num}: {exc}") from exc


def _head(lines: Iterable[str]) -> list[str]:
    return [line.rstrip("\r\n") for line in islice(lines, HEAD_LINES)]


def candidate_files(root: Path, exclude: Iterable[Path] = ()) -> list[Path]:
    """Every ``.csv``/``.txt``/``.tsv`` under ``root`` (sorted), leaving out ``exclude`` and unfinished extractions."""
    skip = {p.resolve() for p in exclude}
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in CANDIDATE_SUFFIXES
        and p.is_file()
        and p.resolve() not in skip
        and not any(part.endswith(".partial") for part in p.relative_to(root).parts)
    )


@dataclass
class FallbackBuild:
    """The fallback's rows (one per code, sorted) and what each file contributed."""

    rows: list[CodeRow]
    kinds: dict[str, str] = field(default_factory=dict)  # source file -> parser used
    parsed: dict[str, int] = field(default_factory=dict)  # source file -> candidate rows read
    skipped: list[str] = field(default_factory=list)  # files no parser reads

    def rows_per_source(self) -> dict[str, int]:
        counts = dict.fromkeys(self.kinds, 0)
        for row in self.rows:
            counts[row.source_file] += 1
        return counts


PARSERS: dict[str, Callable[[Iterable[str], str], Iterator[CodeRow]]] = {
    "pprrvu_csv": parse_pprrvu_csv,
    "pprrvu_fixed_width": parse_pprrvu_fixed_width,
    "level2": parse_level2_csv,
    "delimited": parse_delimited,
}


def build_fallback(root: Path, exclude: Iterable[Path] = ()) -> FallbackBuild:
    """Read every parsable file under ``root`` and keep the richest row per code."""
    build = FallbackBuild(rows=[])
    for path in candidate_files(root, exclude):
        source = path.relative_to(root).as_posix()
        kind = _read(path, lambda fh, name=path.name: classify(name, _head(fh)))
        if kind is None:
            build.skipped.append(source)
        else:
            if kind in CSV_KINDS:
                _read(path, _strict_csv)
            build.kinds[source] = kind
    statuses: dict[str, str] = {}
    for source in (s for s, k in build.kinds.items() if k == "status_table"):
        table = _read(root / source, lambda fh, s=source: parse_status_table(fh, s))
        build.parsed[source] = len(table)
        statuses = {**table, **statuses}  # the first file (sorted) wins
    best: dict[str, CodeRow] = {}
    for source, kind in build.kinds.items():
        if kind == "status_table":
            continue
        if kind == "payment":
            rows = _read(root / source, lambda fh, s=source: list(parse_payment_file(fh, s, statuses)))
        else:
            rows = _read(root / source, lambda fh, s=source, k=kind: list(PARSERS[k](fh, s)))
        build.parsed[source] = len(rows)
        for row in rows:
            current = best.get(row.hcpcs_code)
            if current is None or row.richness() > current.richness():
                best[row.hcpcs_code] = row
    build.rows = [best[code] for code in sorted(best)]
    return build


def render_fallback(rows: Iterable[CodeRow]) -> str:
    """The fallback CSV's text: the header in contract order, then one line per row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(row.values() for row in rows)
    return buf.getvalue()


def write_fallback(rows: Iterable[CodeRow], path: Path) -> bool:
    """Write the fallback CSV atomically unless ``path`` already holds exactly it; True when it changed."""
    text = render_fallback(rows)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return True

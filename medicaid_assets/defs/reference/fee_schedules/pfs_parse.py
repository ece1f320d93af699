"""Parse the files of a CMS physician fee schedule release (RVUyyQ zip) by position, never by header name.

The PPRRVU CSV has a ten-line preamble and a four-row header whose names repeat (``PE RVU``, ``INDICATOR``), and
its fixed-width twin follows the record layout of the RVU file documentation (positions below, 1-based and
inclusive, checked against the real rows); GPCI, LOCCO and ANES carry a title row, notes and footers, their
numbers lose leading zeros (LOCCO writes carrier ``01112`` as ``1112`` and locality ``05`` as ``5``) and their
headers carry the year. So each reader keeps the rows whose key fields look like data and reads fields by index.
Numbers become exact decimals; anything else in a numeric field is an error naming file, line and field.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pyarrow as pa

from medicaid_assets.core.cms_index import zip_hrefs

RVU = pa.decimal128(8, 2)
CF = pa.decimal128(9, 4)
GPCI = pa.decimal128(7, 4)
MONEY = pa.decimal128(12, 2)
CODE_RE = re.compile(r"^[A-Z0-9]{5}$")

# PPRRVU field: (column, index in the CSV row, (first, last) position in the fixed-width record, arrow type).
RVU_FIELDS: tuple[tuple[str, int, tuple[int, int], pa.DataType], ...] = (
    ("hcpcs_code", 0, (1, 5), pa.string()),
    ("modifier", 1, (6, 7), pa.string()),
    ("description", 2, (8, 57), pa.string()),
    ("status", 3, (58, 58), pa.string()),
    ("work_rvu", 5, (60, 65), RVU),
    ("non_facility_pe_rvu", 6, (67, 72), RVU),
    ("non_facility_na", 7, (73, 74), pa.string()),
    ("facility_pe_rvu", 8, (76, 81), RVU),
    ("facility_na", 9, (82, 83), pa.string()),
    ("mp_rvu", 10, (85, 89), RVU),
    ("pctc_indicator", 13, (103, 103), pa.string()),
    ("global_days", 14, (104, 106), pa.string()),
    ("multiple_procedure", 18, (116, 116), pa.string()),
    ("bilateral_surgery", 19, (117, 117), pa.string()),
    ("assistant_surgery", 20, (118, 118), pa.string()),
    ("co_surgeons", 21, (119, 119), pa.string()),
    ("team_surgery", 22, (120, 120), pa.string()),
    ("endoscopic_base_code", 23, (128, 132), pa.string()),
    ("conversion_factor", 24, (133, 140), CF),
    ("physician_supervision", 25, (142, 143), pa.string()),
    ("imaging_family", 27, (146, 147), pa.string()),
    ("opps_non_facility_pe_rvu", 28, (152, 157), RVU),
    ("opps_facility_pe_rvu", 29, (159, 164), RVU),
    ("opps_mp_rvu", 30, (166, 171), RVU),
)
RVU_COLUMNS = tuple(name for name, *_ in RVU_FIELDS)
RVU_SCHEMA = pa.schema([(name, type_) for name, _, _, type_ in RVU_FIELDS])
CSV_FIELD_COUNT = 31

LOCALITY_SCHEMA = pa.schema(
    [
        ("carrier", pa.string()),
        ("locality", pa.string()),
        ("state", pa.string()),
        ("locality_name", pa.string()),
        ("work_gpci", GPCI),
        ("pe_gpci", GPCI),
        ("mp_gpci", GPCI),
    ]
)
COUNTY_SCHEMA = pa.schema(
    [
        ("carrier", pa.string()),
        ("locality", pa.string()),
        ("state_name", pa.string()),
        ("fee_schedule_area", pa.string()),
        ("counties", pa.string()),
    ]
)
ANES_SCHEMA = pa.schema([("carrier", pa.string()), ("locality", pa.string()), ("anesthesia_cf", MONEY)])
OPPS_CAP_SCHEMA = pa.schema(
    [
        ("hcpcs_code", pa.string()),
        ("modifier", pa.string()),
        ("status", pa.string()),
        ("carrier", pa.string()),
        ("locality", pa.string()),
        ("facility_price", MONEY),
        ("non_facility_price", MONEY),
    ]
)

# The release zips of the CMS "PFS Relative Value Files" page: RVU25D, RVU25AR (a correction), rvu26a-updated-….
RELEASE_RE = re.compile(r"rvu(\d{2})([a-d])(r?)", re.IGNORECASE)


class PfsFormatError(ValueError):
    """A fee-schedule file that does not have the layout of the real ones; the message names file, line and field."""


def release_key(name: str) -> str | None:
    """``2025Q4`` for RVU25D (A..D are the January, April, July, October releases); None if not an RVU name."""
    match = RELEASE_RE.search(name)
    return f"20{match[1]}Q{'abcd'.index(match[2].lower()) + 1}" if match else None


def release_links(html: str, page_url: str) -> dict[str, str]:
    """Release key -> absolute zip URL for every RVU zip the page links.

    Of several zips for one quarter, a correction (``RVU25AR``) beats the first release and a re-posted
    ``…-updated-…`` zip beats the original; on a tie the link that comes first on the page.
    """
    best: dict[str, tuple[tuple[bool, bool], str]] = {}
    for href in zip_hrefs(html):
        name = urlsplit(href).path.rsplit("/", 1)[-1]
        match = RELEASE_RE.search(name)
        key = release_key(name)
        if match is None or key is None:
            continue
        rank = (bool(match[3]), "updated" in name.lower())
        if key not in best or rank > best[key][0]:
            best[key] = (rank, urljoin(page_url, href))
    return {key: best[key][1] for key in sorted(best)}


def read_text(path: Path) -> str:
    """CMS files are Windows-1252 with CRLF; some are saved with a UTF-8 byte-order mark."""
    data = path.read_bytes()
    return data[3:].decode("utf-8") if data.startswith(b"\xef\xbb\xbf") else data.decode("cp1252", errors="replace")


def _decimal(text: str, where: str, field: str) -> Decimal:
    value = text.strip()
    if not value:
        return Decimal(0)
    try:
        number = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise PfsFormatError(f"{where}: field {field} is {text!r}, not a number") from None
    if not number.is_finite() or number < 0:
        raise PfsFormatError(f"{where}: field {field} is {text!r}, not a non-negative number")
    return number


def _table(schema: pa.Schema, rows: Iterable[dict[str, object]]) -> pa.Table:
    rows = list(rows)
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise PfsFormatError(f"a value does not fit its column ({exc})") from exc


def _rvu_record(values: list[str], where: str) -> dict[str, object]:
    """One PPRRVU record from its field texts, in RVU_FIELDS order."""
    record: dict[str, object] = {}
    for (name, _, _, type_), text in zip(RVU_FIELDS, values, strict=True):
        record[name] = _decimal(text, where, name) if pa.types.is_decimal(type_) else text.strip()
    code = str(record["hcpcs_code"])
    if not CODE_RE.match(code):
        raise PfsFormatError(f"{where}: HCPCS code {code!r} is not five letters or digits")
    return record


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    yield from enumerate(csv.reader(io.StringIO(text)), start=1)


def parse_pprrvu_csv(path: Path) -> pa.Table:
    """PPRRVU CSV: the rows after the header row that starts ``HCPCS,MOD``, fields by index."""
    records, header_seen = [], False
    for number, row in _csv_rows(read_text(path)):
        if not header_seen:
            header_seen = [c.strip().upper() for c in row[:2]] == ["HCPCS", "MOD"]
            continue
        if not row or not row[0].strip():
            continue
        where = f"{path.name} line {number}"
        if len(row) < CSV_FIELD_COUNT:
            raise PfsFormatError(f"{where}: {len(row)} fields, the PPRRVU layout has {CSV_FIELD_COUNT}")
        records.append(_rvu_record([row[i] for _, i, _, _ in RVU_FIELDS], where))
    if not header_seen:
        raise PfsFormatError(f"{path.name}: no header row starting HCPCS,MOD; is this a PPRRVU CSV?")
    return _table(RVU_SCHEMA, records)


def parse_pprrvu_fixed_width(path: Path) -> pa.Table:
    """PPRRVU fixed width: ``HDR`` lines skipped, every other non-blank line is a record cut at the documented positions."""
    records = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip() or line.startswith("HDR"):
            continue
        where = f"{path.name} line {number}"
        if len(line.rstrip()) < 60:
            raise PfsFormatError(f"{where}: {len(line.rstrip())} characters, a PPRRVU record has at least 60")
        records.append(_rvu_record([line[first - 1 : last] for _, _, (first, last), _ in RVU_FIELDS], where))
    return _table(RVU_SCHEMA, records)


def _digits(text: str) -> bool:
    return text.strip().isdigit()


def parse_gpci(path: Path) -> pa.Table:
    """GPCI CSV (Addendum E): carrier, state, locality, name, work/PE/MP GPCI; title, notes and footers skipped."""
    rows = []
    for number, row in _csv_rows(read_text(path)):
        if len(row) < 7 or not _digits(row[0]):
            continue
        where = f"{path.name} line {number}"
        rows.append(
            {
                "carrier": row[0].strip().zfill(5),
                "state": row[1].strip(),
                "locality": row[2].strip().zfill(2),
                "locality_name": row[3].strip().rstrip("*").strip(),
                "work_gpci": _decimal(row[4], where, "work_gpci"),
                "pe_gpci": _decimal(row[5], where, "pe_gpci"),
                "mp_gpci": _decimal(row[6], where, "mp_gpci"),
            }
        )
    if not rows:
        raise PfsFormatError(f"{path.name}: no GPCI row (carrier, state, locality, name, three GPCIs)")
    return _table(LOCALITY_SCHEMA, rows)


def parse_locco(path: Path) -> pa.Table:
    """LOCCO: carrier and locality zero-padded back, the state carried down to the rows that leave it blank.

    The real 2025 file lists Missouri's rest-of-state locality (5302,99) twice; the first row of a locality wins.
    """
    rows, state, seen = [], "", set()
    for _, row in _csv_rows(read_text(path)):
        if len(row) < 5 or not _digits(row[0]) or not _digits(row[1]):
            continue
        state = row[2].strip() or state
        key = (row[0].strip().zfill(5), row[1].strip().zfill(2))
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "carrier": row[0].strip().zfill(5),
                "locality": row[1].strip().zfill(2),
                "state_name": state,
                "fee_schedule_area": row[3].strip(),
                "counties": row[4].strip(),
            }
        )
    return _table(COUNTY_SCHEMA, rows)


def parse_anes(path: Path) -> pa.Table:
    """ANES: the anesthesia conversion factor per carrier and locality."""
    rows = []
    for number, row in _csv_rows(read_text(path)):
        if len(row) < 4 or not _digits(row[0]):
            continue
        where = f"{path.name} line {number}"
        rows.append(
            {
                "carrier": row[0].strip().zfill(5),
                "locality": row[1].strip().zfill(2),
                "anesthesia_cf": _decimal(row[3], where, "anesthesia_cf"),
            }
        )
    return _table(ANES_SCHEMA, rows)


def parse_opps_cap(path: Path) -> pa.Table:
    """OPPSCAP: the published OPPS-capped facility and non-facility price per code, modifier, carrier, locality."""
    rows = []
    for number, row in _csv_rows(read_text(path)):
        if len(row) < 7 or not CODE_RE.match(row[0].strip()) or not _digits(row[3]):
            continue
        where = f"{path.name} line {number}"
        rows.append(
            {
                "hcpcs_code": row[0].strip(),
                "modifier": row[1].strip(),
                "status": row[2].strip(),
                "carrier": row[3].strip().zfill(5),
                "locality": row[4].strip().zfill(2),
                "facility_price": _decimal(row[5], where, "facility_price"),
                "non_facility_price": _decimal(row[6], where, "non_facility_price"),
            }
        )
    return _table(OPPS_CAP_SCHEMA, rows)


@dataclass(frozen=True)
class ReleaseFiles:
    """The files of one extracted release that the PFS tables are read from."""

    pprrvu: Path
    gpci: Path
    locco: Path | None
    anes: Path | None
    opps_cap: Path | None

    def parse_rvus(self) -> pa.Table:
        return (
            parse_pprrvu_csv(self.pprrvu)
            if self.pprrvu.suffix.lower() == ".csv"
            else parse_pprrvu_fixed_width(self.pprrvu)
        )


def _first(root: Path, pattern: str, suffixes: tuple[str, ...]) -> Path | None:
    """The first file (sorted by path) whose name matches ``pattern``, trying the suffixes in order."""
    regex = re.compile(pattern, re.IGNORECASE)
    files = sorted(p for p in root.rglob("*") if p.is_file() and regex.search(p.stem))
    for suffix in suffixes:
        for path in files:
            if path.suffix.lower() == suffix:
                return path
    return None


def find_release_files(root: Path) -> ReleaseFiles:
    """PPRRVU (CSV, else fixed width), GPCI (required), LOCCO, ANES and OPPSCAP (optional) under ``root``."""
    pprrvu = _first(root, r"^PPRRVU", (".csv", ".txt"))
    gpci = _first(root, r"^GPCI", (".csv",))
    missing = [name for name, path in (("PPRRVU*.csv/.txt", pprrvu), ("GPCI*.csv", gpci)) if path is None]
    if pprrvu is None or gpci is None:
        raise PfsFormatError(f"{root}: the release has no {' or '.join(missing)}; is it an RVU zip?")
    return ReleaseFiles(
        pprrvu=pprrvu,
        gpci=gpci,
        locco=_first(root, r"LOCCO", (".csv",)),
        anes=_first(root, r"^ANES", (".csv",)),
        opps_cap=_first(root, r"^OPPSCAP", (".csv",)),
    )

"""The CMS fee-schedule zip and its index page, in the real layouts, for the pipeline's CPT/HCPCS fallback.

The zip exercises every extraction rule of the contract (section 3): one top-level folder, a folder
named ``PFREV26AR_nonQP `` with a trailing space (the overlay target once trimmed), a nested zip, and a
zip nested in that one::

    PFREV26A/
    PFREV26A/PFREV26AR_nonQP /
    PFREV26A/PFREV26AR_nonQP /PFALL26AR.txt      payment amounts (quoted, zero-padded, no header)
    PFREV26A/PFREV26AR_nonQP /status_code.csv    PFS status codes (real bytes)
    PFREV26A/RVU26A.zip
        PPRRVU2026_Jan.csv                       RVU file, CSV with the 10-line preamble/header
        PPRRVU2026_Jan.txt                       the same rows, fixed width (HDR lines first)
        HCPC2026_JAN_ANWEB.zip
            HCPC2026_JAN_ANWEB.csv               HCPCS Level II annual-style file

PPRRVU, payment-amount and status-code files copy the real samples in ``medicaid_assets/formats``:
real rows verbatim for the codes they cover, other rows generated in the same layout from
``code_universe``. Payment amounts follow the documented PFS formula with real CY2025 GPCIs (it
reproduces the real PFREV25C amounts of 76145 to the cent). The payment file ends without the ``TRL``
trailer: its layout gives no closing quote or padding, and no real trailer was available to copy.

``HCPC2026_JAN_ANWEB.csv`` is an assumption, not a copied file (no real sample exists): the 48 columns
of the BigQuery ``cms_codes.hcpcs`` schema, which OHDSI's ANWEB loader reads by the same positions;
``RECID`` 3 starts a procedure record and 4 continues its long description, 7/8 do the same for
modifiers (2-character codes a parser must skip); ``SEQNUM`` counts 00100, 00200, ... within a code;
long descriptions are cut after a space into chunks of at most 80 characters, so the chunks
concatenate back to the description; dates are ``YYYYMMDD``; minimal quoting, CRLF line ends.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from medicaid_assets.core.atomic import atomic_write
from medicaid_assets.sample_world.code_universe import Code, code_universe
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import disk_path
from medicaid_assets.settings import DEFAULT_CPT_INDEX_URL

CPT_INDEX_URL = DEFAULT_CPT_INDEX_URL
CPT_ZIP_URL = "https://www.cms.gov/files/zip/pfrev26a-updated-01-09-2026.zip"
ZIP_HREF = urlsplit(CPT_ZIP_URL).path  # root-relative, as on the real page

TOP_DIR = "PFREV26A/"
OVERLAY_DIR = "PFREV26A/PFREV26AR_nonQP /"  # the trailing space is the point
RVU_ZIP = "PFREV26A/RVU26A.zip"
PFALL_NAME = "PFALL26AR.txt"
STATUS_NAME = "status_code.csv"
PPRRVU_CSV = "PPRRVU2026_Jan.csv"
PPRRVU_TXT = "PPRRVU2026_Jan.txt"
LEVEL2_ZIP = "HCPC2026_JAN_ANWEB.zip"
LEVEL2_CSV = "HCPC2026_JAN_ANWEB.csv"

ZIP_DATE = (2026, 1, 9, 0, 0, 0)
YEAR = "2026"
CONV_FACTOR = "32.3465"  # the conversion factor of the real CY2025 rows; generated rows reuse it
CRLF = "\r\n"

# Real PPRRVU samples, in the order code_universe reads them (first row of a code+modifier wins).
PPRRVU_SAMPLES = ("pprrvu_sample.csv", "pfs_pprrvu2025_oct_selected_codes.csv", "pfs_pprrvu2025_oct_head70.csv")
PREAMBLE_SAMPLE = "pfs_pprrvu2025_oct_head70.csv"
PREAMBLE_LINES = 10
PREAMBLE_YEARS = (
    (
        "2025 National Physician Fee Schedule Relative Value File October Release",
        f"{YEAR} National Physician Fee Schedule Relative Value File January Release",
    ),
    ("copyright 2024 American Medical", "copyright 2025 American Medical"),
    ("copyright 2025/26 American Dental", "copyright 2026/27 American Dental"),
    ("RELEASED 09/11/2025", "RELEASED 01/09/2026"),
)
FIXED_WIDTH_SAMPLE = "pfs_pprrvu2025_oct_fixedwidth_head40.txt"
STATUS_SAMPLE = "pfs_status_codes_toad.csv"

# PPRRVU CSV field -> (1-based start, width, right-aligned) in the fixed-width record, read off the
# RVU25D record layout and checked against the real fixed-width rows. Fields 15-17 (pre/intra/post
# percentages) print without the leading zero (".10").
FIXED_WIDTH = (
    (1, 5, False),
    (6, 2, False),
    (8, 50, False),
    (58, 1, False),
    (59, 1, False),
    (60, 6, True),
    (67, 6, True),
    (73, 2, False),
    (76, 6, True),
    (82, 2, False),
    (85, 5, True),
    (91, 6, True),
    (97, 6, True),
    (103, 1, False),
    (104, 3, False),
    (107, 3, False),
    (110, 3, False),
    (113, 3, False),
    (116, 1, False),
    (117, 1, False),
    (118, 1, False),
    (119, 1, False),
    (120, 1, False),
    (128, 5, False),
    (133, 8, True),
    (142, 2, False),
    (144, 1, False),
    (146, 2, False),
    (152, 6, True),
    (159, 6, True),
    (166, 6, True),
)
FIXED_WIDTH_LENGTH = 171  # the layout says 200, but real records end after the last field
PERCENT_FIELDS = (15, 16, 17)

# Carrier/locality pairs of the real PFREV25C sample with their real CY2025 GPCIs (work, PE, MP),
# from Addendum E (shared/reference/pfs_gpci2025.csv).
LOCALITIES = (
    ("01112", "05", Decimal("1.088"), Decimal("1.419"), Decimal("0.445")),
    ("01182", "18", Decimal("1.042"), Decimal("1.194"), Decimal("0.69")),
    ("02102", "01", Decimal("1.5"), Decimal("1.081"), Decimal("0.592")),
    ("03102", "00", Decimal("1"), Decimal("0.975"), Decimal("0.854")),
)
PAID_STATUSES = ("A", "R", "T")  # statuses whose RVUs are used for Medicare payment

LEVEL2_COLUMNS = (
    "HCPC",
    "SEQNUM",
    "RECID",
    "LONG_DESCRIPTION",
    "SHORT_DESCRIPTION",
    *(f"PRICE{i}" for i in range(1, 5)),
    "MULT_PI",
    *(f"CIM{i}" for i in range(1, 4)),
    *(f"MCM{i}" for i in range(1, 4)),
    "STATUTE",
    *(f"LABCERT{i}" for i in range(1, 9)),
    *(f"XREF{i}" for i in range(1, 6)),
    "COV",
    "ASC_GRP",
    "ASC_DT",
    "OPPS",
    "OPPS_PI",
    "OPPS_DT",
    "PROCNOTE",
    "BETOS",
    *(f"TOS{i}" for i in range(1, 6)),
    "ANEST_BU",
    "ADD_DT",
    "ACT_EFF_DT",
    "TERM_DT",
    "ACTION_CD",
)
LONG_DESC_WIDTH = 80
# Level II modifier records (RECID 7, continued by 8): (modifier, long description, short, added).
LEVEL2_MODIFIERS = (
    ("GT", "Via interactive audio and video telecommunication systems", "Interactive telecom", "19990101"),
    ("HQ", "Group setting", "Group setting", "20030101"),
    (
        "TC",
        "Technical component; under certain circumstances, a charge may be made for the technical component alone",
        "Technical component",
        "19940101",
    ),
    ("U1", "Medicaid level of care 1, as defined by each state", "Medicaid level 1 state def", "20020101"),
)

INDEX_HTML = f"""<!DOCTYPE html>
<html lang="en" dir="ltr">
<head>
<meta charset="utf-8">
<title>PFREV26A | CMS</title>
</head>
<body>
<header>
<nav aria-label="Main">
<a href="/">CMS.gov</a>
<a href="/medicare">Medicare</a>
<a href="/medicare/payment/fee-schedules">Fee Schedules</a>
<a href="/medicare/payment/fee-schedules/physician/national-payment-amount-file">National Payment Amount File</a>
</nav>
</header>
<main>
<h1>PFREV26A</h1>
<p>Calendar year 2026 national physician fee schedule payment amounts by carrier and locality,
January release, updated 01/09/2026.</p>
<h2>Downloads</h2>
<ul>
<li><a href="/files/zip/pfrev26a.zip">PFREV26A (ZIP)</a></li>
<li><a href="/files/zip/rvu26a-updated-01-09-2026.zip">RVU26A - Updated 01/09/2026 (ZIP)</a></li>
<li><a href="{ZIP_HREF}">PFREV26A - Updated 01/09/2026 (ZIP)</a></li>
<li><a href="/files/document/pfrev26a-readme.pdf">PFREV26A Read Me (PDF)</a></li>
</ul>
<h2>Related</h2>
<ul>
<li><a href="/medicare/payment/fee-schedules/physician/national-payment-amount-file/pfrev25d">PFREV25D</a></li>
<li><a href="/medicare/payment/fee-schedules/physician/pfs-relative-value-files/rvu26a">RVU26A</a></li>
</ul>
</main>
<footer>
<a href="/about-cms">About CMS</a>
<a href="https://www.hhs.gov/">HHS.gov</a>
</footer>
</body>
</html>
"""


def format_bytes(name: str) -> bytes:
    """A real sample shipped in ``medicaid_assets.formats``."""
    return resources.files("medicaid_assets.formats").joinpath(name).read_bytes()


def _format_lines(name: str) -> list[str]:
    return format_bytes(name).decode("latin-1").splitlines()


def _csv_line(fields: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


@lru_cache(maxsize=1)
def real_pprrvu_lines() -> dict[str, tuple[str, ...]]:
    """Raw real PPRRVU data lines per code, modifier rows included, in sample order."""
    seen: dict[tuple[str, str], str] = {}
    for name in PPRRVU_SAMPLES:
        for line in _format_lines(name)[PREAMBLE_LINES:]:
            fields = next(csv.reader([line]))
            if len(fields) > 3 and len(fields[0]) == 5:
                seen.setdefault((fields[0], fields[1]), line)
    out: dict[str, list[str]] = {}
    for (code, _), line in seen.items():
        out.setdefault(code, []).append(line)
    return {code: tuple(lines) for code, lines in out.items()}


def _rng(spec: WorldSpec, salt: str, code: str) -> random.Random:
    """A generator per (world, purpose, code), so a code's values do not depend on iteration order."""
    return random.Random(f"{spec.seed}:{salt}:{code}")


def _cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def _rvus(work: int, nf_pe: int, f_pe: int, mp: int, f_na: str = "") -> list[str]:
    """Work, PE, NA and MP RVUs and the two totals (columns 5-12), from hundredths."""
    return [
        _cents(work),
        _cents(nf_pe),
        "",
        _cents(f_pe),
        f_na,
        _cents(mp),
        _cents(work + nf_pe + mp),
        _cents(work + f_pe + mp),
    ]


def _generated_rows(spec: WorldSpec, code: Code) -> list[list[str]]:
    """PPRRVU rows of a code the real samples do not cover, shaped like the real rows of its status."""
    head = [code.code, "", code.short_desc, code.status, ""]
    tail = ["", CONV_FACTOR, "09", "0", "99", "0.00", "0.00", "0.00"]
    zeros = ["0.00"] * 3
    if code.status not in PAID_STATUSES:  # not paid under the PFS: no RVUs, indicators 9 (0 when carrier priced)
        ind = "0" if code.status == "C" else "9"
        return [[*head, *_rvus(0, 0, 0, 0), ind, "XXX", *zeros, *[ind] * 5, *tail]]
    rng = _rng(spec, "pprrvu", code.code)
    if rng.random() < 0.15:  # diagnostic test: global, professional (26) and technical (TC) rows
        w26, pe26, mp26 = rng.randint(10, 200), rng.randint(5, 60), rng.randint(1, 10)
        petc, mptc = rng.randint(20, 500), rng.randint(1, 10)
        opps = [_cents(rng.randint(petc, 2 * petc)), _cents(rng.randint(petc, 2 * petc)), _cents(mptc)]

        def component(modifier: str, rvus: list[str], supervision: str, opps_rvus: list[str]) -> list[str]:
            ind = ["1", "XXX", *zeros, "4", "3", "0", "0", "0", "", CONV_FACTOR, supervision, "0", "88"]
            return [code.code, modifier, *head[2:], *rvus, *ind, *opps_rvus]

        return [
            component("", _rvus(w26, pe26 + petc, pe26 + petc, mp26 + mptc, "NA"), "09", opps),
            component("26", _rvus(w26, pe26, pe26, mp26), "09", zeros),
            component("TC", _rvus(0, petc, petc, mptc, "NA"), "01", opps),
        ]
    glob = rng.choice(("000", "010", "090", "XXX"))
    periods = ["0.10", "0.69", "0.21"] if glob == "090" else zeros
    work, nf_pe, mp = rng.randint(10, 400), rng.randint(5, 600), rng.randint(1, 40)
    f_pe = rng.randint(5, nf_pe)
    ind = ["0" if glob == "XXX" else "2", "0", rng.choice("012"), "0", "0"]
    return [[*head, *_rvus(work, nf_pe, f_pe, mp), "0", glob, *periods, *ind, *tail]]


def pprrvu_rows(spec: WorldSpec) -> list[tuple[str, list[str]]]:
    """``(csv line, fields)`` of every PPRRVU row, sorted by code: real lines verbatim where possible."""
    real = real_pprrvu_lines()
    rows: list[tuple[str, list[str]]] = []
    for code in sorted((c for c in code_universe(spec) if c.in_pprrvu), key=lambda c: c.code):
        if code.code in real:
            rows.extend((line, next(csv.reader([line]))) for line in real[code.code])
        else:
            rows.extend((_csv_line(fields), fields) for fields in _generated_rows(spec, code))
    return rows


def pprrvu_csv(rows: list[tuple[str, list[str]]]) -> bytes:
    preamble = _format_lines(PREAMBLE_SAMPLE)[:PREAMBLE_LINES]
    for old, new in PREAMBLE_YEARS:
        preamble = [line.replace(old, new) for line in preamble]
    return "".join(line + CRLF for line in (*preamble, *(line for line, _ in rows))).encode("latin-1")


def fixed_width_line(fields: list[str]) -> str:
    """The 171-character fixed-width PPRRVU record of a 31-field CSV row."""
    out = [" "] * FIXED_WIDTH_LENGTH
    for i, ((start, width, right), value) in enumerate(zip(FIXED_WIDTH, fields, strict=True)):
        text = value.removeprefix("0") if i in PERCENT_FIELDS else value
        if len(text) > width:
            raise ValueError(f"PPRRVU field {i} {value!r} is wider than {width} characters")
        out[start - 1 : start - 1 + width] = text.rjust(width) if right else text.ljust(width)
    return "".join(out)


def pprrvu_txt(rows: list[tuple[str, list[str]]]) -> bytes:
    header = [line for line in _format_lines(FIXED_WIDTH_SAMPLE) if line.startswith("HDR")]
    body = [fixed_width_line(fields) for _, fields in rows]
    return "".join(line + CRLF for line in (*header, *body)).encode("latin-1")


def _amount(work: Decimal, pe: Decimal, mp: Decimal, cf: Decimal, gpci: tuple[Decimal, ...]) -> Decimal:
    """The PFS formula: [(work x GPCI) + (PE x GPCI) + (MP x GPCI)] x conversion factor, to the cent."""
    return ((work * gpci[0] + pe * gpci[1] + mp * gpci[2]) * cf).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    return f"{value:010.2f}"


def pfall_fields(fields: list[str], carrier: str, locality: str, gpci: tuple[Decimal, ...]) -> list[str]:
    """The 16 fields of a payment-amount record for one PPRRVU row in one locality."""
    work, nf_pe, f_pe, mp, cf = (Decimal(fields[i]) for i in (5, 6, 8, 10, 24))
    opps_nf_pe, opps_f_pe, opps_mp = (Decimal(fields[i]) for i in (28, 29, 30))
    zero, half = Decimal(0), Decimal("0.5")
    nonfac, fac = _amount(work, nf_pe, mp, cf, gpci), _amount(work, f_pe, mp, cf, gpci)
    opps = any((opps_nf_pe, opps_f_pe, opps_mp))
    opps_nonfac = _amount(work, opps_nf_pe, opps_mp, cf, gpci) if opps else zero
    opps_fac = _amount(work, opps_f_pe, opps_mp, cf, gpci) if opps else zero
    if opps:  # Deficit Reduction Act cap: never above the OPPS amount
        nonfac, fac = min(nonfac, opps_nonfac), min(fac, opps_fac)
    therapy = fields[18] == "5"  # 50% PE reduction for therapy services
    therapy_nf = _amount(work, nf_pe * half, mp, cf, gpci) if therapy else zero
    therapy_f = _amount(work, f_pe * half, mp, cf, gpci) if therapy else zero
    return [
        YEAR,
        carrier,
        locality,
        fields[0],
        fields[1] or "  ",
        _money(nonfac),
        _money(fac),
        " ",
        fields[13],
        fields[3],
        fields[18],
        _money(therapy_nf),
        _money(therapy_f),
        "1" if opps else "9",
        _money(opps_nonfac),
        _money(opps_fac),
    ]


def _pfall(rows: list[tuple[str, list[str]]]) -> bytes:
    lines = [
        ",".join(f'"{v}"' for v in pfall_fields(fields, carrier, locality, gpci))
        for _, fields in rows
        for carrier, locality, *gpci in LOCALITIES
    ]
    return "".join(line + CRLF for line in lines).encode("latin-1")


def long_desc_chunks(text: str, width: int = LONG_DESC_WIDTH) -> list[str]:
    """Chunks of at most ``width`` characters, cut after a space, that concatenate back to ``text``."""
    chunks: list[str] = []
    while len(text) > width:
        cut = text.rfind(" ", 0, width) + 1 or width
        chunks.append(text[:cut])
        text = text[cut:]
    return [*chunks, text]


def _level2_record(hcpc: str, first_recid: int, long_desc: str, values: dict[str, str]) -> list[list[str]]:
    """A record's first row (with ``values``) and its continuation rows."""
    out = []
    for i, chunk in enumerate(long_desc_chunks(long_desc)):
        row = dict.fromkeys(LEVEL2_COLUMNS, "")
        row.update(HCPC=hcpc, SEQNUM=f"{(i + 1) * 100:05d}", RECID=str(first_recid + (i > 0)), LONG_DESCRIPTION=chunk)
        if i == 0:
            row.update(values)
        out.append([row[c] for c in LEVEL2_COLUMNS])
    return out


def _level2_csv(spec: WorldSpec) -> bytes:
    records: list[list[str]] = []
    for code in (c for c in code_universe(spec) if c.in_level2_file):
        rec, rng = code.records[0], _rng(spec, "level2", code.code)
        values = {
            "SHORT_DESCRIPTION": rec.short_desc,
            "PRICE1": rng.choice(("11", "12", "13", "45", "46", "51", "57")),
            "MULT_PI": "A",
            "COV": rng.choice("CDIMS"),
            "BETOS": rng.choice(("O1E", "D1A", "D1C", "D1D", "D1F", "O1A", "Y1", "Z2")),
            "TOS1": rng.choice("19PR"),
            "ADD_DT": rec.add_dt,
            "ACT_EFF_DT": rec.act_eff_dt,
            "TERM_DT": rec.term_dt,
            "ACTION_CD": "N" if rec.act_eff_dt == rec.add_dt else "C",
        }
        records.extend(_level2_record(code.code, 3, rec.long_desc, values))
    for modifier, long_desc, short_desc, added in LEVEL2_MODIFIERS:
        values = {"SHORT_DESCRIPTION": short_desc, "ADD_DT": added, "ACT_EFF_DT": added, "ACTION_CD": "N"}
        records.extend(_level2_record(modifier, 7, long_desc, values))
    records.sort(key=lambda r: (r[0], r[1]))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=CRLF)
    writer.writerow(LEVEL2_COLUMNS)
    writer.writerows(records)
    return buf.getvalue().encode("latin-1")


def deterministic_zip(members: list[tuple[str, bytes]]) -> bytes:
    """A zip with fixed dates, modes and order (names ending in ``/`` are folders)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.create_system = 3
            if name.endswith("/"):
                info.external_attr = (0o40755 << 16) | 0x10
            else:
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def write_cpt_files(spec: WorldSpec, files_dir: Path) -> dict:
    """Write the fee-schedule zip and its index page under ``files_dir``; return what they hold."""
    rows = pprrvu_rows(spec)
    level2 = _level2_csv(spec)
    rvu_members = [
        (PPRRVU_CSV, pprrvu_csv(rows)),
        (PPRRVU_TXT, pprrvu_txt(rows)),
        (LEVEL2_ZIP, deterministic_zip([(LEVEL2_CSV, level2)])),
    ]
    members = [
        (TOP_DIR, b""),
        (OVERLAY_DIR, b""),
        (OVERLAY_DIR + PFALL_NAME, _pfall(rows)),
        (OVERLAY_DIR + STATUS_NAME, format_bytes(STATUS_SAMPLE)),
        (RVU_ZIP, deterministic_zip(rvu_members)),
    ]
    written = {CPT_ZIP_URL: deterministic_zip(members), CPT_INDEX_URL: INDEX_HTML.encode()}
    for url, data in written.items():
        with atomic_write(files_dir / disk_path(url)) as fh:
            fh.write(data)
    pprrvu_codes = len({fields[0] for _, fields in rows})
    return {
        "zip": str(disk_path(CPT_ZIP_URL)),
        "index_page": str(disk_path(CPT_INDEX_URL)),
        "members": [name for name, _ in members],
        "nested": {RVU_ZIP: [name for name, _ in rvu_members], LEVEL2_ZIP: [LEVEL2_CSV]},
        "codes": {
            PPRRVU_CSV: pprrvu_codes,
            PPRRVU_TXT: pprrvu_codes,
            PFALL_NAME: pprrvu_codes,
            LEVEL2_CSV: sum(c.in_level2_file for c in code_universe(spec)),
        },
        "rows": {PPRRVU_CSV: len(rows), PFALL_NAME: len(rows) * len(LOCALITIES)},
    }

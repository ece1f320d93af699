"""The CMS "PFS Relative Value Files" page and two quarterly RVU release zips, in the real layouts.

Each zip holds what the real RVU25D zip holds, under the same kind of names::

    PPRRVU2026_<Mon>.csv / .txt   the world's PPRRVU rows (cpt_archives.pprrvu_rows: real rows verbatim where
                                  the samples have them), CSV with its preamble and fixed width with HDR lines
    GPCI2026.csv                  the real CY2025 Addendum E GPCI file, verbatim (109 localities)
    26LOCCO.csv                   the real locality-to-county crosswalk, verbatim
    ANES2026.csv                  the real anesthesia conversion factors, verbatim
    OPPSCAP_<Mon>.csv             the real OPPSCAP header; one row per imaging code with OPPS RVUs x locality,
                                  priced with the documented formula and the cap (cpt_archives.pfall_fields)

The page links both zips (July = 2026Q3, October = 2026Q4) beside unrelated links, as the real page does.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from medicaid_assets.core.atomic import atomic_write
from medicaid_assets.sample_world.cpt_archives import (
    PAID_STATUSES,
    deterministic_zip,
    format_bytes,
    pfall_fields,
    pprrvu_csv,
    pprrvu_rows,
    pprrvu_txt,
)
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import disk_path
from medicaid_assets.settings import DEFAULT_PFS_INDEX_URL

PFS_INDEX_URL = DEFAULT_PFS_INDEX_URL
# (release key, zip URL, month of the release's file names)
RELEASES = (
    ("2026Q3", "https://www.cms.gov/files/zip/rvu26c.zip", "Jul"),
    ("2026Q4", "https://www.cms.gov/files/zip/rvu26d-updated-10-30-2026.zip", "Oct"),
)
GPCI_SAMPLE, LOCCO_SAMPLE, ANES_SAMPLE = "pfs_gpci2025.csv", "pfs_25locco.csv", "pfs_anes2025.csv"
OPPSCAP_SAMPLE = "pfs_oppscap_oct2025_head40.csv"
CRLF = "\r\n"


def gpci_localities() -> list[tuple[str, str, tuple[Decimal, ...]]]:
    """(carrier, locality, (work, PE, MP GPCI)) of every row of the real GPCI file."""
    rows = csv.reader(io.StringIO(format_bytes(GPCI_SAMPLE).decode("latin-1")))
    return [
        (r[0].strip(), r[2].strip(), tuple(Decimal(v) for v in r[4:7]))
        for r in rows
        if len(r) >= 7 and r[0].strip().isdigit()
    ]


def _oppscap(rows: list[tuple[str, list[str]]]) -> bytes:
    header = format_bytes(OPPSCAP_SAMPLE).decode("latin-1").splitlines()[0]
    lines = [header]
    for _, fields in rows:
        if fields[3] not in PAID_STATUSES or not any(Decimal(fields[i]) for i in (28, 29, 30)):
            continue
        for carrier, locality, gpci in gpci_localities():
            priced = pfall_fields(fields, carrier, locality, gpci)
            facility, non_facility = (f"{Decimal(priced[i]):.2f}" for i in (6, 5))
            lines.append(",".join([fields[0], fields[1], fields[3], carrier, locality, facility, non_facility]))
    return "".join(line + CRLF for line in lines).encode("latin-1")


def _index_html() -> str:
    links = "\n".join(
        f'<li><a href="{urlsplit(url).path}">RVU{key[2:4]}{"ABCD"[int(key[-1]) - 1]} (ZIP)</a></li>'
        for key, url, _ in RELEASES
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>PFS Relative Value Files | CMS</title></head>
<body><main>
<h1>PFS Relative Value Files</h1>
<p>Relative value units, GPCIs, locality crosswalks, anesthesia conversion factors and OPPS caps, by release.</p>
<ul>
{links}
<li><a href="/files/zip/pfrev26d.zip">PFREV26D payment amounts (ZIP)</a></li>
<li><a href="/files/document/rvu26d-readme.pdf">RVU26D Read Me (PDF)</a></li>
</ul>
</main></body></html>
"""


def _release_zip(rows: list[tuple[str, list[str]]], month: str, oppscap: bytes) -> bytes:
    preamble_month = {"Jul": "July", "Oct": "October"}[month]
    text = pprrvu_csv(rows).replace(b"January Release", f"{preamble_month} Release".encode())
    return deterministic_zip(
        [
            (f"PPRRVU2026_{month}.csv", text),
            (f"PPRRVU2026_{month}.txt", pprrvu_txt(rows)),
            ("GPCI2026.csv", format_bytes(GPCI_SAMPLE)),
            ("26LOCCO.csv", format_bytes(LOCCO_SAMPLE)),
            ("ANES2026.csv", format_bytes(ANES_SAMPLE)),
            (f"OPPSCAP_{month}.csv", oppscap),
        ]
    )


def write_pfs_files(spec: WorldSpec, files_dir: Path) -> dict:
    """Write the index page and the release zips under ``files_dir``; return what they hold."""
    rows = pprrvu_rows(spec)
    oppscap = _oppscap(rows)
    written = {PFS_INDEX_URL: _index_html().encode()}
    written |= {url: _release_zip(rows, month, oppscap) for _, url, month in RELEASES}
    for url, data in written.items():
        with atomic_write(files_dir / disk_path(url)) as fh:
            fh.write(data)
    return {
        "index_page": str(disk_path(PFS_INDEX_URL)),
        "releases": {key: str(disk_path(url)) for key, url, _ in RELEASES},
        "pprrvu_rows": len(rows),
        "paid_rows": sum(fields[3] in PAID_STATUSES for _, fields in rows),
        "localities": len(gpci_localities()),
    }

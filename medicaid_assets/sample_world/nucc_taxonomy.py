"""The NUCC taxonomy CSV page and two versions of the code set, in the published layout.

The layout is the one NUCC publishes (``Code,Grouping,Classification,Specialization,Definition,Notes,Display
Name,Section``, UTF-8 with a byte-order mark, CRLF, every cell quoted so commas inside survive). Rows cover every
taxonomy code the world's providers carry plus the group codes and one multi-comma specialization; the older
version lacks the newest code, so a reader that picks the wrong file shows it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import urlsplit

from medicaid_assets.core.atomic import atomic_write
from medicaid_assets.sample_world.providers import TAXONOMY_DESCS
from medicaid_assets.sample_world.urls import disk_path
from medicaid_assets.settings import DEFAULT_NUCC_PAGE_URL

NUCC_PAGE_URL = DEFAULT_NUCC_PAGE_URL
CSV_URLS = (
    "https://www.nucc.org/images/stories/CSV/nucc_taxonomy_250.csv",
    "https://www.nucc.org/images/stories/CSV/nucc_taxonomy_251.csv",
)
HEADER = ("Code", "Grouping", "Classification", "Specialization", "Definition", "Notes", "Display Name", "Section")
PHYSICIANS = "Allopathic & Osteopathic Physicians"
BEHAVIORAL = "Behavioral Health & Social Service Providers"
GROUPINGS = {
    "207": PHYSICIANS,
    "208": PHYSICIANS,
    "363": "Physician Assistants & Advanced Practice Nursing Providers",
    "183": "Pharmacy Service Providers",
    "104": BEHAVIORAL,
    "103": BEHAVIORAL,
    "101": BEHAVIORAL,
    "106": BEHAVIORAL,
    "163": "Nursing Service Providers",
    "122": "Dental Providers",
    "225": "Respiratory, Developmental, Rehabilitative and Restorative Service Providers",
    "282": "Hospitals",
    "261": "Ambulatory Health Care Facilities",
    "251": "Agencies",
    "333": "Suppliers",
    "332": "Suppliers",
    "341": "Transportation Services",
    "291": "Laboratories",
    "374": "Nursing Service Related Providers",
    "390": "Student, Health Care",
    "171": "Other Service Providers",
    "193": "Group",
}
NON_INDIVIDUAL = ("282", "261", "251", "333", "332", "341", "291", "193")
EXTRA = {
    "207RE0101X": "Internal Medicine, Endocrinology, Diabetes & Metabolism",
    "193200000X": "Multi-Specialty",
    "193400000X": "Single Specialty",
}
NEWEST_ONLY = "207RE0101X"


def rows(newest: bool) -> list[tuple[str, ...]]:
    """The code set's rows (the older version lacks ``NEWEST_ONLY``)."""
    out = []
    for code, desc in sorted({**TAXONOMY_DESCS, **EXTRA}.items()):
        if code == NEWEST_ONLY and not newest:
            continue
        classification, _, specialization = desc.partition(", ")
        grouping = GROUPINGS[code[:3]]
        definition = f"A provider of {desc.lower()} services, as defined by NUCC, within {grouping.lower()}."
        section = "Non-Individual" if code[:3] in NON_INDIVIDUAL else "Individual"
        out.append((code, grouping, classification, specialization, definition, "", desc, section))
    return out


def _csv(newest: bool) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows(newest))
    return buf.getvalue().encode("utf-8-sig")


def _page() -> str:
    # Relative to the page (``../../../`` climbs from index.php/…/csv-mainmenu-57 to the site root): the link
    # resolves to the same file on nucc.org and on the local server, which keeps every host in its own folder.
    links = "\n".join(
        f'<li><a href="../../..{urlsplit(url).path}">{url.rsplit("/", 1)[-1]}</a></li>' for url in CSV_URLS
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>CSV</title></head>
<body><h1>Health Care Provider Taxonomy Code Set CSV</h1>
<ul>
{links}
<li><a href="/index.php/code-sets-mainmenu-41/provider-taxonomy-mainmenu-40">Taxonomy</a></li>
</ul></body></html>
"""


def write_nucc_files(files_dir: Path) -> dict:
    written = {NUCC_PAGE_URL: _page().encode(), CSV_URLS[0]: _csv(False), CSV_URLS[1]: _csv(True)}
    for url, data in written.items():
        with atomic_write(files_dir / disk_path(url)) as fh:
            fh.write(data)
    return {"page": str(disk_path(NUCC_PAGE_URL)), "codes": len(rows(True)), "newest": str(disk_path(CSV_URLS[1]))}

"""The NUCC Health Care Provider Taxonomy code set: find the newest CSV on the NUCC page, read it by header name.

NUCC publishes ``nucc_taxonomy_<version>.csv`` twice a year (``251`` = v25.1). Its header names are stable
(``Code,Grouping,Classification,Specialization,Definition,Notes,Display Name,Section``) but some releases insert
``Effective Date,Deactivation Date,Last Modified Date``, so columns are found by name. Files come with a UTF-8
byte-order mark, CRLF line ends and quoted cells holding commas.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pyarrow as pa

from medicaid_assets.core.cms_index import page_hrefs

VERSION_RE = re.compile(r"nucc_taxonomy_(\d+)\.csv$", re.IGNORECASE)
REQUIRED = ("Code", "Grouping", "Classification", "Specialization")
OPTIONAL = ("Definition", "Display Name", "Section", "Deactivation Date")
CODE_RE = re.compile(r"^[0-9]{3}[0-9A-Z]{6}X$")
SCHEMA = pa.schema(
    [
        ("taxonomy_code", pa.string()),
        ("grouping", pa.string()),
        ("classification", pa.string()),
        ("specialization", pa.string()),
        ("display_name", pa.string()),
        ("section", pa.string()),
        ("definition", pa.string()),
        ("deactivation_date", pa.string()),
        ("version", pa.string()),
    ]
)


class TaxonomyFormatError(ValueError):
    """The file is not a NUCC taxonomy CSV; the message names the file and what is missing."""


def newest_csv_url(html: str, page_url: str) -> str | None:
    """The absolute URL of the highest-version ``nucc_taxonomy_<v>.csv`` the page links, or None."""
    versions: dict[int, str] = {}
    for href in page_hrefs(html):
        match = VERSION_RE.search(urlsplit(href).path)
        if match:
            versions.setdefault(int(match[1]), urljoin(page_url, href))
    return versions[max(versions)] if versions else None


def parse_taxonomy(path: Path) -> pa.Table:
    """One row per taxonomy code; ``version`` from the file name (``251``), empty cells as NULL."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(reader, [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise TaxonomyFormatError(f"{path.name}: header lacks {', '.join(missing)}; is this a NUCC taxonomy CSV?")
    index = {name: header.index(name) for name in (*REQUIRED, *OPTIONAL) if name in header}
    match = VERSION_RE.search(path.name)
    version = match[1] if match else None
    rows = []
    for number, row in enumerate(reader, start=2):
        if not row or not row[0].strip():
            continue

        def cell(name: str, row: list[str] = row) -> str | None:
            i = index.get(name)
            value = row[i].strip() if i is not None and i < len(row) else ""
            return value or None

        code = cell("Code") or ""
        if not CODE_RE.match(code):
            raise TaxonomyFormatError(f"{path.name} line {number}: {code!r} is not a 10-character taxonomy code")
        rows.append(
            {
                "taxonomy_code": code,
                "grouping": cell("Grouping"),
                "classification": cell("Classification"),
                "specialization": cell("Specialization"),
                "display_name": cell("Display Name"),
                "section": cell("Section"),
                "definition": cell("Definition"),
                "deactivation_date": cell("Deactivation Date"),
                "version": version,
            }
        )
    if not rows:
        raise TaxonomyFormatError(f"{path.name}: no taxonomy rows")
    return pa.Table.from_pylist(rows, schema=SCHEMA)

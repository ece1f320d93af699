"""The sample world's NPPES bulk files: the monthly and weekly V2 zips and the files page that lists them.

Rows copy the real V2 layout in every detail a parser can trip on (330 double-quoted columns, ``MM/DD/YYYY``
dates, bare-digit phones, ``<UNAVAIL>`` EINs, Latin-1 bytes, LF endings), so the pipeline's NPPES loader is
exercised against these files instead of a 1 GB download. Headers are the real header bytes from
``medicaid_assets/formats``, never retyped.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import date, timedelta
from importlib import resources
from itertools import chain
from pathlib import Path

from medicaid_assets.core.atomic import atomic_path
from medicaid_assets.sample_world.providers import Address, Provider, monthly_as_of, provider, weekly_bundles
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import disk_path
from medicaid_assets.settings import DEFAULT_NPPES_FILES_PAGE_URL

ENCODING = "latin-1"  # the real npidata file is iso-8859-1
_FORMATS = resources.files("medicaid_assets.formats")
HEADER_BYTES: bytes = _FORMATS.joinpath("nppes_bulk_header_v2.csv").read_bytes()
COLUMNS: tuple[str, ...] = tuple(next(csv.reader([HEADER_BYTES.decode(ENCODING)])))
_COLUMN_INDEX = {name: i for i, name in enumerate(COLUMNS)}
SIDE_COLUMNS: dict[str, tuple[str, ...]] = {
    kind: tuple(_FORMATS.joinpath(f"nppes_bulk_{kind}_pfile_columns_v2.txt").read_text(ENCODING).splitlines())
    for kind in ("othername", "pl", "endpoint")
}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
NPPES_DIR = disk_path(DEFAULT_NPPES_FILES_PAGE_URL).parent
FILES_PAGE = disk_path(DEFAULT_NPPES_FILES_PAGE_URL).name
README_PDF = "NPPES_Data_Dissemination_Readme_v.2.pdf"
# A mean row is ~1.3 KB uncompressed; at 2,000 bytes a row the npidata member could pass zip's 2 GiB
# limit, so from there on it is written as ZIP64 (as the real 10 GB monthly member is).
_ZIP64_ROWS = zipfile.ZIP64_LIMIT // 2_000
# Compressed bytes of our zips (per npidata row, and the headers and members around them), to print
# sizes on the files page without building the zips.
_ZIP_BYTES_PER_ROW = 130
_ZIP_OVERHEAD = 5_000


def _csv_line(values: Iterable[str]) -> str:
    """One line as NPPES writes it: every value double-quoted, comma separated, LF."""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(values)
    return out.getvalue()


def _clean(values: Iterable[str]) -> list[str]:
    """NPPES replaces embedded ``"`` by ``'`` rather than escaping it."""
    return [v.replace('"', "'") for v in values]


def _ordered(values: dict[str, str]) -> list[str]:
    """An npidata row from ``{column: value}``, blank elsewhere; a misspelt column name raises KeyError."""
    row = [""] * len(COLUMNS)
    for name, value in values.items():
        if value:
            row[_COLUMN_INDEX[name]] = value.replace('"', "'")
    return row


def _mdy(d: date | None) -> str:
    return f"{d:%m/%d/%Y}" if d else ""


def _address(kind: str, a: Address | None) -> dict[str, str]:
    """The eight columns of the mailing (``kind="Mailing"``) or ``"Practice Location"`` address."""
    if a is None:
        return {}
    return {
        f"Provider First Line Business {kind} Address": a.line1,
        f"Provider Second Line Business {kind} Address": a.line2,
        f"Provider Business {kind} Address City Name": a.city,
        f"Provider Business {kind} Address State Name": a.state,
        f"Provider Business {kind} Address Postal Code": a.postal_code,
        f"Provider Business {kind} Address Country Code (If outside U.S.)": a.country,
        f"Provider Business {kind} Address Telephone Number": a.phone,
        f"Provider Business {kind} Address Fax Number": a.fax,
    }


def _person(p: Provider) -> dict[str, str]:
    return {
        "Provider Last Name (Legal Name)": p.last_name,
        "Provider First Name": p.first_name,
        "Provider Middle Name": p.middle_name,
        "Provider Name Prefix Text": p.prefix,
        "Provider Name Suffix Text": p.suffix,
        "Provider Credential Text": p.credential,
        "Provider Sex Code": p.sex,
        "Is Sole Proprietor": p.sole_proprietor,
    }


def _organization(p: Provider) -> dict[str, str]:
    other_name, other_type = p.other_org_names[0] if p.other_org_names else ("", "")
    return {
        "Employer Identification Number (EIN)": "<UNAVAIL>",  # suppressed in the public file
        "Provider Organization Name (Legal Business Name)": p.organization_name,
        "Provider Other Organization Name": other_name,
        "Provider Other Organization Name Type Code": other_type,
        "Authorized Official Last Name": p.official_last,
        "Authorized Official First Name": p.official_first,
        "Authorized Official Middle Name": p.official_middle,
        "Authorized Official Title or Position": p.official_title,
        "Authorized Official Telephone Number": p.official_phone,
        "Authorized Official Name Prefix Text": p.official_prefix,
        "Authorized Official Name Suffix Text": p.official_suffix,
        "Authorized Official Credential Text": p.official_credential,
        "Is Organization Subpart": p.organization_subpart,
    }


def nppes_row(p: Provider) -> list[str]:
    """The 330 values of ``p``'s V2 ``npidata_pfile`` row, in header order, formatted as the real file."""
    if p.entity_type == 0:  # deactivated: the real file keeps only the NPI and the deactivation
        values = {
            "NPI": p.npi,
            "NPI Deactivation Reason Code": p.deactivation_reason,
            "NPI Deactivation Date": _mdy(p.deactivation_date),
        }
        return _ordered(values)
    values = {
        "NPI": p.npi,
        "Entity Type Code": str(p.entity_type),
        **(_person(p) if p.entity_type == 1 else _organization(p)),
        **_address("Mailing", p.mailing),
        **_address("Practice Location", p.location),
        "Provider Enumeration Date": _mdy(p.enumeration_date),
        "Last Update Date": _mdy(p.last_update),
        "NPI Deactivation Reason Code": p.deactivation_reason,
        "NPI Deactivation Date": _mdy(p.deactivation_date),
        "NPI Reactivation Date": _mdy(p.reactivation_date),
        "Certification Date": _mdy(p.certification_date),
    }
    for i, t in enumerate(p.taxonomies, 1):
        values[f"Healthcare Provider Taxonomy Code_{i}"] = t.code
        values[f"Provider License Number_{i}"] = t.license
        values[f"Provider License Number State Code_{i}"] = t.license_state
        values[f"Healthcare Provider Primary Taxonomy Switch_{i}"] = "Y" if t.primary else "N"
        values[f"Healthcare Provider Taxonomy Group_{i}"] = t.group
    for i, o in enumerate(p.identifiers, 1):
        values[f"Other Provider Identifier_{i}"] = o.identifier
        values[f"Other Provider Identifier Type Code_{i}"] = o.type_code
        values[f"Other Provider Identifier State_{i}"] = o.state
        values[f"Other Provider Identifier Issuer_{i}"] = o.issuer
    return _ordered(values)


def side_rows(p: Provider) -> dict[str, list[list[str]]]:
    """``p``'s rows of the other-name, secondary-practice-location and endpoint files (column order of
    ``SIDE_COLUMNS``; extension and "other" descriptions are blank, as the Provider has none)."""
    return {
        "othername": [_clean((p.npi, name, code)) for name, code in p.other_org_names],
        "pl": [
            _clean((p.npi, a.line1, a.line2, a.city, a.state, a.postal_code, a.country, a.phone, "", a.fax))
            for a in p.practice_locations
        ],
        "endpoint": [
            _clean(
                (
                    p.npi,
                    e.type,
                    e.type_description,
                    e.endpoint,
                    e.affiliation,
                    e.description,
                    e.affiliation_name,
                    e.use_code,
                    e.use_description,
                    "",
                    e.content_type,
                    e.content_description,
                    "",
                    e.address.line1,
                    e.address.line2,
                    e.address.city,
                    e.address.state,
                    e.address.country,
                    e.address.postal_code,
                )
            )
            for e in p.endpoints
        ],
    }


def _zipinfo(name: str, stamp: date) -> zipfile.ZipInfo:
    """A member with fixed metadata, so the same spec gives byte-identical zips on any day and host."""
    info = zipfile.ZipInfo(name, date_time=(stamp.year, stamp.month, stamp.day, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def _write_zip(path: Path, stem: str, providers: Iterable[Provider], stamp: date, zip64: bool) -> dict:
    """Stream ``providers`` into an NPPES zip at ``path`` (temp name, then rename); return its counts.

    The npidata rows go straight into their zip member; side rows (a few percent of them) wait in temp
    files, because a zip writes one member at a time and the providers are generated only once.
    """
    rows = {f"{kind}_pfile_{stem}.csv": 0 for kind in ("npidata", *SIDE_COLUMNS)}
    kinds = dict.fromkeys(("deactivated", "individuals", "organizations"), 0)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as zf, ExitStack() as stack:
        sides = {
            kind: io.TextIOWrapper(stack.enter_context(tempfile.TemporaryFile()), encoding=ENCODING, newline="")
            for kind in SIDE_COLUMNS
        }
        for kind, fh in sides.items():
            fh.write(_csv_line(SIDE_COLUMNS[kind]))
        side_writers = {kind: csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n") for kind, fh in sides.items()}
        main = f"npidata_pfile_{stem}.csv"
        with (
            zf.open(_zipinfo(main, stamp), "w", force_zip64=zip64) as raw,
            io.TextIOWrapper(raw, encoding=ENCODING, newline="") as text,
        ):
            text.write(HEADER_BYTES.decode(ENCODING))
            writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
            for p in providers:
                writer.writerow(nppes_row(p))
                rows[main] += 1
                kinds[("deactivated", "individuals", "organizations")[p.entity_type]] += 1
                for kind, extra in side_rows(p).items():
                    side_writers[kind].writerows(extra)
                    rows[f"{kind}_pfile_{stem}.csv"] += len(extra)
        zf.writestr(_zipinfo(f"npidata_pfile_{stem}_fileheader.csv", stamp), HEADER_BYTES)
        for kind, fh in sides.items():
            fh.flush()
            fh.buffer.seek(0)
            with zf.open(_zipinfo(f"{kind}_pfile_{stem}.csv", stamp), "w") as member:
                shutil.copyfileobj(fh.buffer, member, 1 << 20)
            header = _csv_line(SIDE_COLUMNS[kind]).encode(ENCODING)
            zf.writestr(_zipinfo(f"{kind}_pfile_{stem}_fileheader.csv", stamp), header)
    return {"rows": rows, **kinds}


def monthly_zip_name(as_of: date) -> str:
    return f"NPPES_Data_Dissemination_{MONTHS[as_of.month - 1]}_{as_of.year}_V2.zip"


def write_nppes_files(spec: WorldSpec, files_dir: Path) -> dict:
    """Write the monthly zip, every weekly zip and ``NPI_Files.html``; return a JSON-able summary."""
    out = files_dir / NPPES_DIR
    as_of = monthly_as_of()
    monthly = monthly_zip_name(as_of)
    monthly_counts = _write_zip(
        out / monthly,
        f"20050523-{as_of:%Y%m%d}",
        (provider(spec, i) for i in spec.range_registered()),
        as_of,
        zip64=spec.registered > _ZIP64_ROWS,
    )
    weeklies = []
    for b in weekly_bundles(spec):
        records = chain(
            (provider(spec, i) for i in b.new),
            (provider(spec, i, version=b.number) for i in b.changed),
            (provider(spec, i, deactivate_on=b.end - timedelta(days=2)) for i in b.deactivated),
        )
        counts = _write_zip(out / b.zip_name, b.file_stem, records, b.end, zip64=False)
        weeklies.append({"zip": str(NPPES_DIR / b.zip_name), "start": str(b.start), "end": str(b.end), **counts})
    with atomic_path(out / FILES_PAGE) as tmp:
        tmp.write_text(render_files_page(spec), encoding="utf-8")
    return {
        "files_page": str(NPPES_DIR / FILES_PAGE),
        "monthly": {"zip": str(NPPES_DIR / monthly), "as_of": str(as_of), **monthly_counts},
        "weekly": weeklies,
    }


def _size(rows: int) -> str:
    kb = round((_ZIP_OVERHEAD + rows * _ZIP_BYTES_PER_ROW) / 1024)
    return f"{kb:,} KB" if kb < 1024 else f"{kb / 1024:,.1f} MB"


def _link(href: str, text: str, size: str) -> str:
    return f'<tr><td><a href="./{href}">{text}</a></td><td>{size}</td></tr>'


def render_files_page(spec: WorldSpec, published_weeklies: int | None = None) -> str:
    """``NPI_Files.html`` as the real page lays it out: V1 and V2 sections, newest file first in each.

    Only the ``published_weeklies`` oldest weekly bundles are listed (None = all), so a test can
    "publish" the next weekly by re-rendering the page. The V1 files, the deactivation report and the
    readme are listed but never written: the pipeline must skip them.
    """
    as_of = monthly_as_of()
    posted = as_of + timedelta(days=1)
    bundles = weekly_bundles(spec)[:published_weeklies][::-1]
    month = f"{MONTHS[as_of.month - 1]} {as_of.year}"
    v1_monthly = monthly_zip_name(as_of).replace("_V2.zip", ".zip")
    sections = [
        (
            "Full Replacement Monthly NPI File",
            [_link(v1_monthly, f"NPPES Data Dissemination ({month})", _size(spec.registered))],
        ),
        (
            "Full Replacement Monthly NPI File Version 2 (V.2)",
            [_link(monthly_zip_name(as_of), f"NPPES Data Dissemination V.2 ({month})", _size(spec.registered))],
        ),
        (
            "Full Replacement Monthly NPI Deactivation File Version 2 (V.2)",
            [
                _link(
                    f"NPPES_Deactivated_NPI_Report_{posted:%m%d%y}_V2.zip",
                    f"NPPES Data Dissemination V.2 - Monthly Deactivation Update ({posted:%m/%d/%Y})",
                    _size(spec.registered // 30),  # a guess: an xlsx of the ~3.5% deactivated NPIs, never served
                )
            ],
        ),
    ]
    for title, suffix, label in (
        ("Weekly Incremental NPI Files", ".zip", "NPPES Data Dissemination"),
        ("Weekly Incremental NPI Files Version 2 (V.2)", "_V2.zip", "NPPES Data Dissemination V.2"),
    ):
        links = [
            _link(
                b.zip_name.replace("_V2.zip", suffix),
                f"{label} - Weekly Update - {b.start:%m%d%y}_{b.end:%m%d%y}",
                _size(len(b.new) + len(b.changed) + len(b.deactivated)),
            )
            for b in bundles
        ]
        sections.append((title, links))
    body = "\n".join(
        f'<tr><th colspan="2" scope="colgroup">{title}</th></tr>\n' + "\n".join(links) for title, links in sections
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>NPPES Downloadable File</title>
</head>
<body>
<h1>NPPES Downloadable File</h1>
<p>The full replacement monthly file holds every FOIA-disclosable NPPES record, deactivated NPIs included.
Weekly incremental files hold the records added, changed or deactivated in their week; use them with the
monthly file until the next monthly file is posted. Version 1 and Version 2 (V.2) files are posted side by
side; V.2 allows longer first-name and legal-business-name fields.</p>
<table border="1" cellpadding="4" summary="NPPES downloadable files">
<tr><th scope="col">File</th><th scope="col">Size</th></tr>
{body}
</table>
<p><a href="./{README_PDF}">NPPES Data Dissemination Readme (V.2)</a></p>
</body>
</html>
"""

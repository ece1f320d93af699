"""OPPS Addendum A/B and ASC Addendum AA releases on their CMS pages, and two states' workers'-comp schedules.

Every file keeps a real sample's layout byte for byte where the sample has it (preamble rows, header spellings,
encodings, line ends, NOTE footers): the real rows are copied, and the world's other codes (from the code universe,
so the rates warehouse can compare them with Medicaid) get a real APC's weight and rate, or a real ASC row's
payment indicator and weight. Releases: OPPS October 2024 and January 2025; ASC January 2025, October 2025 and
January 2026, the last with the 2026 file's title that breaks a line inside its quotes.
"""

from __future__ import annotations

import csv
import io
import random
import re
import zipfile
from datetime import datetime
from importlib import resources
from pathlib import Path

from medicaid_assets.core.atomic import atomic_write
from medicaid_assets.sample_world.code_universe import code_universe
from medicaid_assets.sample_world.cpt_archives import deterministic_zip
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import WC_URLS, disk_path
from medicaid_assets.settings import DEFAULT_ASC_ADDENDA_URL, DEFAULT_OPPS_ADDENDA_URL

GA_SHEETS = {
    "Evaluation and Management": "wc_ga_fee_schedule_2024_em.csv",
    "Surgery": "wc_ga_fee_schedule_2024_surgery.csv",
    "Radiology": "wc_ga_fee_schedule_2024_radiology.csv",
    "Anesthesia": "wc_ga_fee_schedule_2024_anesthesia_head11.csv",
}
NC_SAMPLE = "wc_nc_fee_schedule_2025_excerpt.csv"
OPPS_A = ("opps_addendum_a_jan2025_head230.csv", "opps_addendum_a_jan2025_apc5012_5524.csv")
OPPS_B = "opps_addendum_b_jan2025_excerpt.csv"
ASC = {  # release month -> sample whose preamble and header it keeps
    ("October", 2024): None,
    ("January", 2025): "asc_addendum_aa_jan2025_excerpt.csv",
    ("October", 2025): "asc_addendum_aa_oct2025_head8.csv",
    ("January", 2026): "asc_addendum_aa_jan2026_head40.csv",
}
OPPS_RELEASES = (("October", 2024, 0.97), ("January", 2025, 1.0))  # month, year, factor on the January rates
ASC_RELEASES = (("January", 2025, 1.0), ("October", 2025, 1.0), ("January", 2026, 1.03))


def _sample(name: str) -> bytes:
    return resources.files("medicaid_assets.formats").joinpath(name).read_bytes()


def _records(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def _csv(rows: list[list[str]], newline: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows(rows)
    return buf.getvalue()


def _split(data: bytes, header_first: str, encoding: str) -> tuple[bytes, list[list[str]], bytes]:
    """(bytes up to and including the header line, data records, bytes of the footer from the first blank row)."""
    text = data.decode(encoding)
    start = text.index("\n", text.index(header_first)) + 1
    records = list(csv.reader(io.StringIO(text[start:], newline="")))
    rows = [r for r in records if r and r[0].strip() and not r[0].startswith("NOTE")]
    tail = text[start:]
    footer_at = tail.find("\n,,,,,,") + 1 if "NOTE" in tail else len(tail)
    return text[:start].encode(encoding), rows, tail[footer_at:].encode(encoding)


def _world_codes(spec: WorldSpec, real: set[str]) -> list[str]:
    return sorted(c.code for c in code_universe(spec) if len(c.code) == 5 and c.code not in real)


def _money(value: float, decimals: int = 2) -> str:
    return f"${value:,.{decimals}f}"


def opps_files(spec: WorldSpec) -> dict[str, bytes]:
    """Addendum A and B zips per release, and the page listing them, keyed by real URL."""
    a_head, a_rows = b"", []
    for name in OPPS_A:
        head, rows, _ = _split(_sample(name), "APC,Group Title", "utf-8")
        a_head, a_rows = head, a_rows + rows
    b_head, b_real, _ = _split(_sample(OPPS_B), "HCPCS Code,Short Descriptor", "utf-8")
    weighted = [r for r in a_rows if r[3].strip()]
    rng = random.Random(spec.seed * 31 + 7)
    synthetic = []
    for code in _world_codes(spec, {r[0] for r in b_real}):
        apc = rng.choice(weighted)
        synthetic.append([code, f"World code {code}", apc[2], apc[0], apc[3], apc[4].replace("$", "").replace(",", "")])
    out: dict[str, bytes] = {}
    links = []
    for month, year, factor in OPPS_RELEASES:
        slug = f"{month.lower()}-{year}"
        a_body = [[*r[:4], _money(float(r[4].replace("$", "").replace(",", "")) * factor, 3), *r[5:]] for r in a_rows]
        a_csv = a_head + _csv(a_body, "\r\n").encode("utf-8")
        b_body = [r if factor == 1.0 else _scaled_b(r, factor) for r in b_real]
        b_body += [
            [*r[:5], f"{float(r[5]) * factor:.2f}", ".", _money(float(r[5]) * factor * 0.2), "", "", "", "", ""]
            for r in synthetic
        ]
        b_csv = b_head + _csv(sorted(b_body, key=lambda r: r[0]), "\n").encode("utf-8")
        a_url = f"https://www.cms.gov/files/zip/{slug}-web-addendum.zip"
        b_url = f"https://www.cms.gov/files/zip/{slug}-addendum-b.zip"
        out[a_url] = deterministic_zip([(f"{month} {year} Web Addendum A.csv", a_csv)])
        out[b_url] = deterministic_zip([(f"{month} {year} Addendum B.csv", b_csv)])
        links += [
            f'<li><a href="{a_url.removeprefix("https://www.cms.gov")}">{month} {year} Web Addendum A (ZIP)</a></li>',
            f'<li><a href="{b_url.removeprefix("https://www.cms.gov")}">{month} {year} Addendum B (ZIP)</a></li>',
        ]
    out[DEFAULT_OPPS_ADDENDA_URL] = _page("Addendum A and Addendum B Updates", links)
    return out


def _scaled_b(row: list[str], factor: float) -> list[str]:
    if not row[5].strip():
        return row
    return [*row[:5], f"{float(row[5]) * factor:.2f}", *row[6:]]


def asc_files(spec: WorldSpec) -> dict[str, bytes]:
    """Addendum AA zips per release, and the page listing them, keyed by real URL."""
    base_head, base_rows, footer = _split(_sample(ASC[("January", 2025)]), "HCPCS Code,,Short", "cp1252")
    real = {r[0] for r in base_rows}
    paid = [r for r in base_rows if r[5].strip()]
    cf = float(paid[0][6].replace("$", "").replace(",", "")) / float(paid[0][5])
    rng = random.Random(spec.seed * 37 + 3)
    surgical = [c for c in _world_codes(spec, real) if c.isdigit() and "10000" <= c <= "69999"]
    synthetic = []
    for code in surgical:
        like = rng.choice(paid)
        weight = float(like[5])
        synthetic.append([code, "", f"World code {code}", like[3], like[4], like[5], _money(weight * cf)])
    out: dict[str, bytes] = {}
    links = []
    for month, year, factor in ASC_RELEASES:
        sample = ASC[(month, year)]
        head, own, _ = _split(_sample(sample), "HCPCS Code,,Short", "cp1252") if sample else (base_head, [], b"")
        mine = {r[0]: r for r in own}
        trailing = " " if year >= 2026 else ""  # the 2026 file ends rates with a space
        body = []
        for row in sorted(base_rows + synthetic, key=lambda r: r[0]):
            if row[0] in mine:
                continue
            rate = row[6].strip()
            if rate and factor != 1.0:
                rate = _money(float(rate.replace("$", "").replace(",", "")) * factor)
            body.append([*row[:6], rate + trailing if rate else rate])
        rows = sorted([*own, *body], key=lambda r: r[0])
        data = head + _csv(rows, "\r\n").encode("cp1252") + b",,,,,,\r\n" + footer
        slug = f"{month.lower()}-{year}"
        url = f"https://www.cms.gov/files/zip/{slug}-asc-approved-hcpcs-code-and-payment-rates.zip"
        out[url] = deterministic_zip(
            [("AA.csv", data), ("ReadMe.txt", f"ASC addenda for {month} {year}.\r\n".encode())]
        )
        links.append(
            f'<li><a href="{url.removeprefix("https://www.cms.gov")}">{month} {year} ASC Approved HCPCS Code and '
            "Payment Rates (ZIP)</a></li>"
        )
    out[DEFAULT_ASC_ADDENDA_URL] = _page("ASC Payment Rates - Addenda", links)
    return out


def _page(title: str, links: list[str]) -> bytes:
    items = "\n".join(links[::-1])  # newest first, as CMS lists them
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><title>{title} | CMS</title></head>\n<body>\n<main>\n'
        f"<h1>{title}</h1>\n<ul>\n{items}\n"
        '<li><a href="/files/document/addenda-readme.pdf">Read Me (PDF)</a></li>\n</ul>\n</main>\n</body>\n</html>\n'
    ).encode()


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def ga_workbook() -> bytes:
    """The Georgia workbook: the sample sheets with numbers stored as numbers and the formula as a formula."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    book.create_sheet("Instructions").append(["Georgia State Board of Workers' Compensation Fee Schedule"])
    for name, sample in GA_SHEETS.items():
        sheet = book.create_sheet(name)
        for cells in _records(_sample(sample), "utf-8"):
            sheet.append([_cell(c) for c in cells])
    book.properties.created = datetime(2024, 1, 2, 9, 0, 0)
    buf = io.BytesIO()
    book.save(buf)
    with zipfile.ZipFile(buf) as saved:  # re-packed with fixed dates (openpyxl stamps "modified" on save)
        members = [(info.filename, saved.read(info)) for info in saved.infolist()]
    return deterministic_zip(
        [(name, _MODIFIED.sub(rb"\g<1>2024-01-02T09:00:00Z\g<2>", data)) for name, data in members]
    )


def _cell(text: str) -> object:
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def write_fee_schedule_files(spec: WorldSpec, files_dir: Path) -> dict:
    """Write every file under ``files_dir``; return what the world holds."""
    files = {**opps_files(spec), **asc_files(spec), WC_URLS["GA"]: ga_workbook(), WC_URLS["NC"]: _sample(NC_SAMPLE)}
    for url, data in files.items():
        with atomic_write(files_dir / disk_path(url)) as fh:
            fh.write(data)
    return {
        "opps_releases": [f"{m} {y}" for m, y, _ in OPPS_RELEASES],
        "asc_releases": [f"{m} {y}" for m, y, _ in ASC_RELEASES],
        "wc_states": sorted(WC_URLS),
        "files": sorted(str(disk_path(u)) for u in files),
    }

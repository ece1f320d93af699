"""The sample NPPES zips and files page: real V2 layout and formats, and the same bytes for the same spec."""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import re
import zipfile
from datetime import date
from pathlib import Path

import pytest

from medicaid_assets.sample_world.nppes_files import (
    SIDE_COLUMNS,
    nppes_row,
    render_files_page,
    side_rows,
    write_nppes_files,
)
from medicaid_assets.sample_world.providers import (
    current_provider,
    index_for_npi,
    npi_for_index,
    provider,
    weekly_bundles,
)
from medicaid_assets.sample_world.spec import WorldSpec

SPEC = WorldSpec(seed=3, scale=0.0001)
REFERENCE = Path(__file__).parents[1] / "data" / "reference"
REAL_HEADER = (REFERENCE / "nppes_bulk_header_v2.csv").read_bytes()
QUOTED_LINE = re.compile(rb'^"[^"]*"(,"[^"]*")*$')

# Value formats of the real rows, by column name (first match wins; anything else is free text). Each is
# checked against the three real V2 rows and the ten real V1 rows before it is applied to ours.
FORMATS = [
    (r"NPI|Replacement NPI", r"(\d{10})?"),
    (r"Entity Type Code", r"[12]?"),
    (r"Employer Identification Number \(EIN\)", r"(<UNAVAIL>)?"),
    (r".* Date", r"(\d{2}/\d{2}/\d{4})?"),
    (r".*(Telephone|Fax) Number", r"(\d{10})?"),
    (r".*State Name|Provider License Number State Code_\d+|Other Provider Identifier State_\d+", r"([A-Z]{2})?"),
    (r".*Country Code \(If outside U\.S\.\)", r"([A-Z]{2})?"),
    (r"Healthcare Provider Taxonomy Code_\d+", r"(\d{3}[0-9A-Z]{6}X)?"),
    (r"Healthcare Provider Primary Taxonomy Switch_\d+", r"[YN]?"),
    (r"Other Provider Identifier Type Code_\d+", r"(\d{2})?"),
    (r"Provider Other Organization Name Type Code", r"[1-5]?"),
    (r"NPI Deactivation Reason Code", r"([A-Z]{2})?"),
    (r"Provider (Sex|Gender) Code", r"[MFUX]?"),  # U and X are recorded values beside the samples' M and F
    (r"Is Sole Proprietor", r"[YNX]?"),
    (r"Is Organization Subpart", r"[YN]?"),
    (r".*", r'[^"\r\n]*'),
]
COUNTRY = " Country Code (If outside U.S.)"


@functools.cache
def column_format(column: str) -> re.Pattern[str]:
    return re.compile(next(p for name, p in FORMATS if re.fullmatch(name, column)))


def format_errors(record: dict[str, str]) -> list[str]:
    """Values of ``record`` (column -> value) whose format differs from the real rows'."""
    errors = []
    for column, value in record.items():
        if column.endswith(" Postal Code"):  # 9 digits in the samples (5 when no ZIP+4); free form abroad
            domestic = record[column.removesuffix(" Postal Code") + COUNTRY] in ("US", "")
            pattern = re.compile(r"(\d{5}|\d{9})?" if domestic else r"[A-Z0-9]+")
        else:
            pattern = column_format(column)
        if not pattern.fullmatch(value):
            errors.append(f"{column}={value!r} !~ {pattern.pattern}")
    return errors


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("latin-1"), newline="")))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    files = tmp_path_factory.mktemp("world")
    return files, write_nppes_files(SPEC, files)


@pytest.fixture(scope="module")
def monthly(world: tuple[Path, dict]) -> dict[str, bytes]:
    """Member name -> bytes of the monthly zip."""
    with zipfile.ZipFile(world[0] / world[1]["monthly"]["zip"]) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.fixture(scope="module")
def monthly_rows(monthly: dict[str, bytes]) -> list[dict[str, str]]:
    return read_csv(monthly["npidata_pfile_20050523-20261025.csv"])


def test_same_spec_same_bytes_other_seed_other_bytes(world: tuple[Path, dict], tmp_path: Path) -> None:
    files, summary = world
    again = write_nppes_files(SPEC, tmp_path / "again")
    other = write_nppes_files(WorldSpec(seed=4, scale=0.0001), tmp_path / "other")
    assert again == summary
    written = sorted(p.relative_to(files) for p in files.rglob("*") if p.is_file())
    assert len(written) == 1 + 1 + 3  # page, monthly, weeklies: nothing else, no temp files left
    for rel in written:
        assert (tmp_path / "again" / rel).read_bytes() == (files / rel).read_bytes(), rel
    assert (tmp_path / "other" / summary["monthly"]["zip"]).read_bytes() != (
        files / summary["monthly"]["zip"]
    ).read_bytes()
    assert other["monthly"]["zip"] == summary["monthly"]["zip"]


def test_zip_members_names_order_and_metadata(world: tuple[Path, dict]) -> None:
    files, summary = world
    zips = [(summary["monthly"]["zip"], "20050523-20261025", date(2026, 10, 25))]
    zips += [(f"download.cms.gov/nppes/{b.zip_name}", b.file_stem, b.end) for b in weekly_bundles(SPEC)]
    assert summary["monthly"]["zip"] == "download.cms.gov/nppes/NPPES_Data_Dissemination_October_2026_V2.zip"
    assert [w["zip"].rsplit("/", 1)[1] for w in summary["weekly"]] == [
        "NPPES_Data_Dissemination_102626_110126_Weekly_V2.zip",
        "NPPES_Data_Dissemination_110226_110826_Weekly_V2.zip",
        "NPPES_Data_Dissemination_110926_111526_Weekly_V2.zip",
    ]
    for rel, stem, stamp in zips:
        with zipfile.ZipFile(files / rel) as zf:
            infos = zf.infolist()
        assert [i.filename for i in infos] == [
            f"{kind}_pfile_{stem}{suffix}.csv"
            for kind in ("npidata", "othername", "pl", "endpoint")
            for suffix in ("", "_fileheader")
        ]
        assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
        assert {i.date_time for i in infos} == {(stamp.year, stamp.month, stamp.day, 0, 0, 0)}


def test_header_is_the_real_header(monthly: dict[str, bytes]) -> None:
    data = monthly["npidata_pfile_20050523-20261025.csv"]
    assert data.startswith(REAL_HEADER)
    assert monthly["npidata_pfile_20050523-20261025_fileheader.csv"] == REAL_HEADER
    for kind, columns in SIDE_COLUMNS.items():
        header = ",".join(f'"{c}"' for c in columns).encode() + b"\n"
        assert monthly[f"{kind}_pfile_20050523-20261025_fileheader.csv"] == header
        assert monthly[f"{kind}_pfile_20050523-20261025.csv"].startswith(header)
    assert SIDE_COLUMNS["pl"][2] == "Provider Secondary Practice Location Address-  Address Line 2"
    assert len(SIDE_COLUMNS["endpoint"]) == 19


def test_every_value_is_quoted_lf_and_rows_have_all_columns(monthly: dict[str, bytes]) -> None:
    for name, data in monthly.items():
        assert b"\r" not in data, name
        assert data.endswith(b"\n"), name
        lines = data[:-1].split(b"\n")
        width = lines[0].count(b'","') + 1
        for line in lines:
            assert QUOTED_LINE.match(line), (name, line[:120])
            assert line.count(b'","') + 1 == width, (name, line[:120])
    rows = list(csv.reader(io.StringIO(monthly["npidata_pfile_20050523-20261025.csv"].decode("latin-1"), newline="")))
    assert len(rows) == SPEC.registered + 1
    assert {len(r) for r in rows} == {330}
    assert b'""' in monthly["npidata_pfile_20050523-20261025.csv"].split(b"\n")[1]  # empty values are "" too


def test_formats_are_those_of_the_real_rows(monthly_rows: list[dict[str, str]]) -> None:
    real = read_csv((REFERENCE / "nppes_bulk_npidata_v2_weekly_sample_3rows.csv").read_bytes())
    real += read_csv((REFERENCE / "nppes_bulk_npidata_v1_first10_rows_2015.csv").read_bytes())
    assert sum(r["Entity Type Code"] == "2" for r in real) == 2
    assert [e for r in real for e in format_errors(r)] == []
    errors = [e for r in monthly_rows for e in format_errors(r)]
    assert errors == []
    # Forms the samples show, present in our rows too.
    assert any(len(r["Provider Business Mailing Address Postal Code"]) == 9 for r in monthly_rows)
    assert any(r["Provider Business Mailing Address Country Code (If outside U.S.)"] == "US" for r in monthly_rows)
    orgs = [r for r in monthly_rows if r["Entity Type Code"] == "2"]
    assert orgs and all(r["Employer Identification Number (EIN)"] == "<UNAVAIL>" for r in orgs)
    assert all(r["Authorized Official Last Name"] and r["Is Organization Subpart"] for r in orgs)
    people = [r for r in monthly_rows if r["Entity Type Code"] == "1"]
    assert people and all(r["Employer Identification Number (EIN)"] == "" and r["Is Sole Proprietor"] for r in people)


def test_a_deviating_value_is_caught() -> None:
    row = dict.fromkeys(next(csv.reader([REAL_HEADER.decode()])), "")
    for column, bad in (
        ("Provider Enumeration Date", "2021-08-25"),
        ("Provider Business Mailing Address Telephone Number", "301-309-3781"),
        ("Provider Business Mailing Address Postal Code", "28804-1234"),
        ("Healthcare Provider Primary Taxonomy Switch_1", "X"),
        ("Entity Type Code", "NPI-1"),
    ):
        assert format_errors({**row, column: bad}), column


def test_rows_follow_the_providers_and_cover_every_kind(
    world: tuple[Path, dict], monthly_rows: list[dict[str, str]]
) -> None:
    summary = world[1]["monthly"]
    assert [r["NPI"] for r in monthly_rows] == [npi_for_index(SPEC, i) for i in SPEC.range_registered()]
    assert [list(r.values()) for r in monthly_rows[:50]] == [nppes_row(provider(SPEC, i)) for i in range(50)]
    assert summary["organizations"] == sum(r["Entity Type Code"] == "2" for r in monthly_rows) > 0
    assert summary["individuals"] == sum(r["Entity Type Code"] == "1" for r in monthly_rows) > 0
    deactivated = [r for r in monthly_rows if r["Entity Type Code"] == ""]
    assert summary["deactivated"] == len(deactivated) > 0
    for r in deactivated:
        filled = {k for k, v in r.items() if v}
        assert (
            {"NPI", "NPI Deactivation Date"}
            <= filled
            <= {"NPI", "NPI Deactivation Date", "NPI Deactivation Reason Code"}
        )
    assert any(r["NPI Deactivation Reason Code"] for r in deactivated)
    assert any(r["Healthcare Provider Taxonomy Code_15"] for r in monthly_rows)
    assert any(r["NPI Reactivation Date"] and r["Entity Type Code"] for r in monthly_rows)
    assert any(r["Provider Other Organization Name"] for r in monthly_rows)
    assert any(r["Other Provider Identifier_11"] for r in monthly_rows)
    for r in monthly_rows:
        switches = [r[f"Healthcare Provider Primary Taxonomy Switch_{i}"] for i in range(1, 16)]
        assert switches.count("Y") == (1 if r["Entity Type Code"] else 0)


def test_latin1_bytes(monthly: dict[str, bytes], monthly_rows: list[dict[str, str]]) -> None:
    data = monthly["npidata_pfile_20050523-20261025.csv"]
    assert any(b >= 0xC0 for b in data)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # Latin-1, as the real iso-8859-1 file, not UTF-8
    names = {r[c] for r in monthly_rows for c in ("Provider First Name", "Provider Last Name (Legal Name)")}
    assert names & {"JOSÉ", "MARÍA", "RENÉE", "ZOË", "FRANÇOIS", "SØREN", "INÉS", "MUÑOZ", "PEÑA", "NÚÑEZ"}


def test_embedded_double_quote_becomes_single_quote() -> None:
    p = next(provider(SPEC, i) for i in SPEC.range_registered() if provider(SPEC, i).entity_type == 2)
    row = nppes_row(dataclasses.replace(p, organization_name='THE "BEST" CLINIC', official_last="O'BRIEN"))
    assert "THE 'BEST' CLINIC" in row and "O'BRIEN" in row


def test_side_files_carry_the_providers_extra_records(monthly: dict[str, bytes]) -> None:
    providers = [provider(SPEC, i) for i in SPEC.range_registered()]
    othername = read_csv(monthly["othername_pfile_20050523-20261025.csv"])
    assert [(r["NPI"], r["Provider Other Organization Name"]) for r in othername] == [
        (p.npi, name) for p in providers for name, _ in p.other_org_names
    ]
    pl = read_csv(monthly["pl_pfile_20050523-20261025.csv"])
    expected = [(p.npi, a) for p in providers for a in p.practice_locations]
    assert len(pl) == len(expected) > 0
    for r, (npi, a) in zip(pl, expected, strict=True):
        assert r["NPI"] == npi
        assert r["Provider Secondary Practice Location Address-  Address Line 2"] == a.line2
        assert r["Provider Secondary Practice Location Address - City Name"] == a.city
        assert r["Provider Secondary Practice Location Address - Postal Code"] == a.postal_code
        assert r["Provider Practice Location Address - Fax Number"] == a.fax
    endpoints = read_csv(monthly["endpoint_pfile_20050523-20261025.csv"])
    expected_ep = [(p.npi, e) for p in providers for e in p.endpoints]
    assert len(endpoints) == len(expected_ep) > 0
    for r, (npi, e) in zip(endpoints, expected_ep, strict=True):
        assert (r["NPI"], r["Endpoint Type"], r["Endpoint"], r["Use Code"]) == (npi, e.type, e.endpoint, e.use_code)
        assert (r["Affiliation Address City"], r["Affiliation Address Postal Code"]) == (
            e.address.city,
            e.address.postal_code,
        )
    assert all(len(rows) == 0 for rows in side_rows(next(p for p in providers if p.entity_type == 0)).values())


def test_weekly_rows_agree_with_current_provider(world: tuple[Path, dict]) -> None:
    files, summary = world
    for w in summary["weekly"]:
        with zipfile.ZipFile(files / w["zip"]) as zf:
            main = next(n for n in zf.namelist() if n.startswith("npidata_") and not n.endswith("_fileheader.csv"))
            assert zf.read(main).startswith(REAL_HEADER)
            rows = read_csv(zf.read(main))
        assert len(rows) == w["rows"][main] > 0
        kinds = {"new": 0, "changed": 0, "deactivated": 0}
        for r in rows:
            index = index_for_npi(SPEC, r["NPI"])
            assert index is not None
            assert list(r.values()) == nppes_row(current_provider(SPEC, index))
            assert format_errors(r) == []
            kinds["new" if index >= SPEC.registered else "deactivated" if not r["Entity Type Code"] else "changed"] += 1
        assert kinds["new"] > 0 and kinds["changed"] > 0 and kinds["deactivated"] == w["deactivated"] > 0


def hrefs(page: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', page)


def test_files_page_lists_v2_newest_first_beside_links_to_ignore(world: tuple[Path, dict]) -> None:
    files, summary = world
    page = (files / summary["files_page"]).read_text()
    assert page == render_files_page(SPEC)
    links = hrefs(page)
    assert all(h.startswith("./") for h in links)
    v2 = [h[2:] for h in links if re.search(r"nppes_data_dissemination.*_v2\.zip$", h, re.I)]
    assert v2 == [
        "NPPES_Data_Dissemination_October_2026_V2.zip",
        "NPPES_Data_Dissemination_110926_111526_Weekly_V2.zip",
        "NPPES_Data_Dissemination_110226_110826_Weekly_V2.zip",
        "NPPES_Data_Dissemination_102626_110126_Weekly_V2.zip",
    ]
    for name in v2:
        assert (files / "download.cms.gov/nppes" / name).is_file()
    for ignored in (
        "./NPPES_Data_Dissemination_October_2026.zip",
        "./NPPES_Data_Dissemination_102626_110126_Weekly.zip",
        "./NPPES_Data_Dissemination_110926_111526_Weekly.zip",
        "./NPPES_Deactivated_NPI_Report_102626_V2.zip",
        "./NPPES_Data_Dissemination_Readme_v.2.pdf",
    ):
        assert ignored in links
        assert not (files / "download.cms.gov/nppes" / ignored[2:]).exists()


def test_files_page_lists_only_published_weeklies() -> None:
    weekly = [h for h in hrefs(render_files_page(SPEC, 1)) if "Weekly" in h]
    assert weekly == [
        "./NPPES_Data_Dissemination_102626_110126_Weekly.zip",
        "./NPPES_Data_Dissemination_102626_110126_Weekly_V2.zip",
    ]
    two = [h for h in hrefs(render_files_page(SPEC, 2)) if h.endswith("Weekly_V2.zip")]
    assert two == [
        "./NPPES_Data_Dissemination_110226_110826_Weekly_V2.zip",
        "./NPPES_Data_Dissemination_102626_110126_Weekly_V2.zip",
    ]

"""NPPES files page, bundle contents and headers, checked against the real header and V1 rows."""

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from medicaid_assets.defs.reference.nppes.bundles import (
    IDENTIFIER_FIELDS,
    IDENTIFIER_SLOTS,
    PROVIDER_FIELDS,
    SIDE_TABLES,
    TAXONOMY_FIELDS,
    TAXONOMY_SLOTS,
    V2_HEADER,
    HeaderDifference,
    NppesBundleError,
    bundle_key,
    chronological,
    count_data_lines,
    find_bundle_files,
    header_difference,
    header_differences,
    parse_files_page,
    provider_select_sql,
    read_header,
    source_date,
    weekly_period,
    weekly_url,
)
from medicaid_assets.sample_world.nppes_files import render_files_page
from medicaid_assets.sample_world.providers import weekly_bundles
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets_tests.conftest import REFERENCE

PAGE = "http://127.0.0.1:8000/download.cms.gov/nppes/NPI_Files.html"
FOLDER = "http://127.0.0.1:8000/download.cms.gov/nppes/"
V1_ROWS = REFERENCE / "nppes_bulk_npidata_v1_first10_rows_2015.csv"
V2_ROWS = REFERENCE / "nppes_bulk_npidata_v2_weekly_sample_3rows.csv"


def test_sample_world_page_gives_v2_links_newest_first() -> None:
    spec = WorldSpec(seed=3)
    links = parse_files_page(render_files_page(spec), PAGE)
    assert links.monthly == (FOLDER + "NPPES_Data_Dissemination_October_2026_V2.zip",)
    expected = [FOLDER + b.zip_name for b in reversed(weekly_bundles(spec))]
    assert list(links.weekly) == expected
    assert not any("Deactivated" in u or not u.endswith("_V2.zip") for u in links.monthly + links.weekly)


def test_page_parsing_is_case_insensitive_resolves_urls_and_skips_the_rest() -> None:
    html = """
    <a href="https://other.example/x/nppes_data_dissemination_March_2026_v2.ZIP">monthly</a>
    <A HREF="/nppes/NPPES_Data_Dissemination_030926_031526_WEEKLY_V2.zip">weekly</A>
    <a href="NPPES_Data_Dissemination_March_2026.zip">V1</a>
    <a href="NPPES_Deactivated_NPI_Report_031026_V2.zip">deactivation report</a>
    <a href="NPPES_Data_Dissemination_Deactivated_031026_V2.zip">deactivated</a>
    <a href="NPPES_Data_Dissemination_Readme_v.2.pdf">readme</a>
    <a>no href</a> <a href="../">a folder</a>
    <a href="/nppes/NPPES_Data_Dissemination_030926_031526_WEEKLY_V2.zip">same weekly twice</a>
    """
    links = parse_files_page(html, PAGE)
    assert links.monthly == ("https://other.example/x/nppes_data_dissemination_March_2026_v2.ZIP",)
    assert links.weekly == ("http://127.0.0.1:8000/nppes/NPPES_Data_Dissemination_030926_031526_WEEKLY_V2.zip",)
    assert parse_files_page("<html><body>maintenance</body></html>", PAGE).weekly == ()


def test_weekly_keys_map_back_to_urls_and_sort_by_date() -> None:
    url = FOLDER + "NPPES_Data_Dissemination_110926_111526_Weekly_V2.zip"
    key = bundle_key(url)
    assert key == "NPPES_Data_Dissemination_110926_111526_Weekly_V2"
    assert weekly_url(PAGE, key) == url
    assert weekly_period(key) == (date(2026, 11, 9), date(2026, 11, 15))
    assert weekly_period("NPPES_Data_Dissemination_133026_010526_Weekly_V2") is None  # no month 13
    year_end = ["NPPES_Data_Dissemination_010526_011126_Weekly_V2", "NPPES_Data_Dissemination_122925_010426_Weekly_V2"]
    assert chronological([*year_end, "odd_name"]) == [year_end[1], year_end[0], "odd_name"]
    with pytest.raises(ValueError, match="not a zip"):
        bundle_key(PAGE)


def test_source_date_is_the_end_of_the_file_period() -> None:
    assert source_date("npidata_pfile_20050523-20261025.csv") == date(2026, 10, 25)
    with pytest.raises(NppesBundleError, match="no <yyyymmdd>-<yyyymmdd> period"):
        source_date("npidata_pfile.csv")


def test_v1_header_differences_are_named_with_positions() -> None:
    diff = header_difference(V2_HEADER, read_header(V1_ROWS))
    assert diff.renamed == ((42, "Provider Sex Code", "Provider Gender Code"),)
    assert diff.missing == ((330, "Certification Date"),)
    assert not diff.extra and not diff.moved
    assert str(diff) == (
        "renamed: column 42 'Provider Sex Code' is now 'Provider Gender Code' | "
        "missing: 'Certification Date' (column 330)"
    )
    assert not header_difference(V2_HEADER, read_header(V2_ROWS))


def test_extra_repeated_and_moved_columns() -> None:
    assert header_difference(["a", "b", "c"], ["a", "c", "b"]).moved == (("b", 2, 3), ("c", 3, 2))
    diff = header_difference(["a", "b"], ["a", "b", "a", "z"])
    assert diff == HeaderDifference(extra=((3, "a"), (4, "z")))
    assert "extra: 'a' (column 3); 'z' (column 4)" in str(diff)
    inserted = header_difference(["a", "b", "c"], ["a", "new", "b", "c"])
    assert inserted == HeaderDifference(extra=((2, "new"),))  # an insertion does not "move" what follows


def test_provider_columns_read_every_v2_column_once() -> None:
    used = ["NPI", *(header for _, header, _ in PROVIDER_FIELDS)]
    used += [h.format(i=i) for i in range(1, TAXONOMY_SLOTS + 1) for _, h, _ in TAXONOMY_FIELDS]
    used += [h.format(i=i) for i in range(1, IDENTIFIER_SLOTS + 1) for _, h, _ in IDENTIFIER_FIELDS]
    assert sorted(used) == sorted(V2_HEADER)


def test_side_tables_match_the_known_side_headers() -> None:
    formats = Path(__file__).parents[4] / "medicaid_assets" / "formats"
    for side in SIDE_TABLES:
        known = (formats / f"nppes_bulk_{side.kind}_pfile_columns_v2.txt").read_text("latin-1").splitlines()
        assert list(side.header) == known, side.kind


def _bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "NPPES_Data_Dissemination_110926_111526_Weekly_V2"
    folder.mkdir()
    shutil.copy(V2_ROWS, folder / "npidata_pfile_20261109-20261115.csv")
    (folder / "npidata_pfile_20261109-20261115_fileheader.csv").write_text(",".join(f'"{c}"' for c in V2_HEADER))
    shutil.copy(V1_ROWS, folder / "old_v1_copy.csv")  # a primary candidate too, but smaller
    (folder / "PL_PFILE_20261109-20261115.csv").write_text('"NPI"\n')
    (folder / "readme.pdf").write_bytes(b"%PDF")
    return folder


def test_bundle_files_primary_sides_and_header_check(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    bundle = find_bundle_files(folder)
    assert bundle.primary.name == "old_v1_copy.csv"  # the largest primary candidate wins ...
    (folder / "old_v1_copy.csv").unlink()
    bundle = find_bundle_files(folder)
    assert bundle.primary.name == "npidata_pfile_20261109-20261115.csv"  # ... never the _fileheader file
    assert bundle.sides == {"pl": folder / "PL_PFILE_20261109-20261115.csv"}
    assert bundle.source_date == date(2026, 11, 15)
    differences = header_differences(bundle)
    assert list(differences) == ["PL_PFILE_20261109-20261115.csv"]
    assert differences["PL_PFILE_20261109-20261115.csv"].missing[0] == (
        2,
        "Provider Secondary Practice Location Address- Address Line 1",
    )


def test_no_primary_csv_is_an_error_listing_what_was_found(tmp_path: Path) -> None:
    (tmp_path / "othername_pfile_1-2.csv").write_text('"NPI","Provider Other Organization Name"\n')
    with pytest.raises(NppesBundleError, match=r"no npidata CSV .* found: othername_pfile_1-2.csv"):
        find_bundle_files(tmp_path)


def test_count_data_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    for text, lines in (("", 0), ('"NPI"\n', 0), ('"NPI"\n"1"\n"2"\n', 2), ('"NPI"\n"1"\n"2"', 2)):
        path.write_text(text)
        assert count_data_lines(path) == lines
    assert count_data_lines(V2_ROWS) == 3


def test_provider_select_on_real_v2_rows(tmp_path: Path) -> None:
    path = tmp_path / "npidata_pfile_20250101-20250107.csv"
    shutil.copy(V2_ROWS, path)
    with duckdb.connect() as conn:
        sql = provider_select_sql(path, "weekly", date(2025, 1, 7))
        rows = conn.execute(f"SELECT npi, provider_name, status, taxonomies, enumeration_date FROM ({sql})").fetchall()
    assert len(rows) == 3
    for npi, name, status, taxonomies, enumerated in rows:
        assert len(npi) == 10 and name and status == "A"
        assert taxonomies and all(t["code"] for t in taxonomies)
        assert sum(t["is_primary"] for t in taxonomies) <= 1
        assert isinstance(enumerated, date)

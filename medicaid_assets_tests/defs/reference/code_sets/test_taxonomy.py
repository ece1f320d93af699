"""The NUCC taxonomy code set: newest CSV picked from the page, read by header name, and the asset on the world."""

from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.reference.code_sets.taxonomy import nucc_taxonomy
from medicaid_assets.defs.reference.code_sets.taxonomy_parse import TaxonomyFormatError, newest_csv_url, parse_taxonomy
from medicaid_assets.sample_world.nucc_taxonomy import NEWEST_ONLY
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets.settings import Settings


def test_newest_version_wins_whatever_the_page_order() -> None:
    html = '<a href="/images/stories/CSV/nucc_taxonomy_251.csv">a</a><a href="nucc_taxonomy_90.csv">b</a>'
    assert (
        newest_csv_url(html, "https://www.nucc.org/x/y")
        == "https://www.nucc.org/images/stories/CSV/nucc_taxonomy_251.csv"
    )
    assert newest_csv_url("<a href='x.pdf'>", "https://www.nucc.org/") is None


def test_columns_are_found_by_name_with_bom_crlf_and_quoted_commas(tmp_path: Path) -> None:
    path = tmp_path / "nucc_taxonomy_241.csv"
    text = (
        "Code,Grouping,Classification,Specialization,Definition,Effective Date,Deactivation Date,"
        "Last Modified Date,Notes,Display Name,Section\r\n"
        '207RE0101X,Allopathic & Osteopathic Physicians,Internal Medicine,"Endocrinology, Diabetes & Metabolism",'
        '"A physician, who …",,,,,Endocrinology Physician,Individual\r\n'
        "193200000X,Group,Multi-Specialty,,,,2024-01-01,,,Multi-Specialty Group,Non-Individual\r\n"
    )
    path.write_bytes(text.encode("utf-8-sig"))
    rows = parse_taxonomy(path).to_pylist()
    assert rows[0]["taxonomy_code"] == "207RE0101X"  # the BOM is not part of the first header name
    assert rows[0]["specialization"] == "Endocrinology, Diabetes & Metabolism"
    assert rows[0]["display_name"] == "Endocrinology Physician" and rows[0]["version"] == "241"
    assert rows[1]["specialization"] is None and rows[1]["deactivation_date"] == "2024-01-01"
    bad = tmp_path / "nucc_taxonomy_1.csv"
    bad.write_text("Code,Name\n207Q00000X,x\n")
    with pytest.raises(TaxonomyFormatError, match="header lacks Grouping, Classification, Specialization"):
        parse_taxonomy(bad)


def test_asset_reads_the_newest_csv_of_the_world(settings: Settings, world: WorldControl) -> None:
    result = dg.materialize([nucc_taxonomy], resources=build_resources(settings))
    assert result.success
    frame = result.output_for_node("code_sets__nucc_taxonomy")  # a query over the parsed CSV, with its identity
    table = duckdb.sql(frame.sql).to_arrow_table()
    codes = table.column("taxonomy_code").to_pylist()
    assert NEWEST_ONLY in codes and set(table.column("version").to_pylist()) == {"251"}
    assert any(p["path"].endswith("nucc_taxonomy_251.csv") for p in world.requests())


def test_a_missing_page_fails_the_step_naming_the_page_and_status(settings: Settings, world: WorldControl) -> None:
    missing = replace(settings, nucc_page_url=settings.nucc_page_url.rstrip("/") + "-moved/")
    with pytest.raises(dg.Failure, match=r"NUCC page .*-moved/: HTTP 404"):
        dg.materialize([nucc_taxonomy], resources=build_resources(missing))

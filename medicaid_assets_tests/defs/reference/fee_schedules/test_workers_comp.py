"""Workers'-comp handlers on the real Georgia and North Carolina samples, and the multiplier-of-Medicare shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from medicaid_assets.defs.reference.fee_schedules.workers_comp.california import CALIFORNIA, multiplier_rows
from medicaid_assets.defs.reference.fee_schedules.workers_comp.handlers import (
    WcFormatError,
    csv_rows,
    handler_for,
    xlsx_sheets,
)
from medicaid_assets.defs.reference.fee_schedules.workers_comp.states import TABLE_STATES
from medicaid_assets_tests.conftest import REFERENCE

GA_SHEETS = {
    "Evaluation and Management": "wc_ga_fee_schedule_2024_em.csv",
    "Surgery": "wc_ga_fee_schedule_2024_surgery.csv",
    "Radiology": "wc_ga_fee_schedule_2024_radiology.csv",
    "Anesthesia": "wc_ga_fee_schedule_2024_anesthesia_head11.csv",
}


def ga_sheets() -> dict[str, list[list[str]]]:
    return {name: csv_rows((REFERENCE / file).read_bytes()) for name, file in GA_SHEETS.items()}


def row(parse, code: str, modifier: str, setting: str):
    [found] = [r for r in parse.rows if (r.code, r.modifier, r.setting) == (code, modifier, setting)]
    return found


def test_registry_lists_every_table_state() -> None:
    assert TABLE_STATES == ("GA", "NC")
    with pytest.raises(KeyError, match="no workers'-comp handler for 'ZZ'"):
        handler_for("ZZ")


def test_georgia_restores_zeros_reads_three_settings_and_reports_the_formula() -> None:
    parse = handler_for("GA")(ga_sheets(), 2024)
    anesthesia = row(parse, "00100", "", "anesthesia")  # stored as the integer 100
    assert anesthesia.base_units == 5.0 and anesthesia.description == "ANESTHESIA SALIVARY GLANDS WITH BIOPSY"
    knee = {s: row(parse, "27447", "", s).max_amount for s in ("professional", "opps", "asc")}
    assert knee == {"professional": 4935.8, "opps": 17424.12, "asc": 16262.19}
    assert row(parse, "71046", "TC", "asc").max_amount == 208.55
    assert row(parse, "71046", "26", "professional").max_amount == 30.61
    assert row(parse, "73721", "", "opps").max_amount is None  # " " in OP MAR
    assert row(parse, "10011", "", "professional").max_amount is None  # BR: by report
    assert parse.by_report == ["GA Surgery row 9 PROF MAR", "GA Surgery row 10 PROF MAR"]
    assert parse.formula_cells == ["GA Radiology row 15 column 15: =H588*0.9"]
    assert row(parse, "99213", "", "professional").max_amount == 160.66


def test_georgia_reads_the_workbook_as_published(tmp_path: Path) -> None:
    """The same sheets as an .xlsx (ints stored as ints, the formula as a formula) give the same rows."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    book.create_sheet("Instructions").append(["How to use this fee schedule"])
    for name, rows in ga_sheets().items():
        sheet = book.create_sheet(name)
        for cells in rows:
            sheet.append(
                [int(c) if c.isdigit() else float(c) if c.replace(".", "", 1).isdigit() else c or None for c in cells]
            )
    path = tmp_path / "ga.xlsx"
    book.save(path)
    from_csv = handler_for("GA")(ga_sheets(), 2024)
    from_xlsx = handler_for("GA")(xlsx_sheets(path), 2024)
    assert from_xlsx.rows == from_csv.rows and from_xlsx.formula_cells == from_csv.formula_cells
    assert from_xlsx.skipped == ["Instructions"]


def test_north_carolina_splits_glued_modifiers() -> None:
    parse = handler_for("NC")(
        {"export_NC.csv": csv_rows((REFERENCE / "wc_nc_fee_schedule_2025_excerpt.csv").read_bytes())}, 2025
    )
    assert len(parse.rows) == 2 * 63
    assert row(parse, "45378", "53", "professional_nonfacility").max_amount == 230.87
    assert row(parse, "45378", "53", "professional_facility").max_amount == 126.62
    assert row(parse, "45378", "", "professional_facility").max_amount == 252.47
    assert row(parse, "71046", "TC", "professional_nonfacility").max_amount == 40.72
    assert row(parse, "0001U", "", "professional_nonfacility").category == "Clinical Laboratory"
    assert row(parse, "99213", "", "professional_nonfacility").max_amount == 118.5


def test_a_changed_layout_is_an_error_naming_the_file() -> None:
    rows = csv_rows((REFERENCE / "wc_nc_fee_schedule_2025_excerpt.csv").read_bytes())
    rows[0][3] = "Rate"
    with pytest.raises(WcFormatError, match=r"NC f\.csv header: no column NC NON-FACILITY RATE"):
        handler_for("NC")({"f.csv": rows}, 2025)
    rows = csv_rows((REFERENCE / "wc_nc_fee_schedule_2025_excerpt.csv").read_bytes())
    rows[5][3] = "12,0x"
    with pytest.raises(WcFormatError, match=r"NC f\.csv row 6 professional_nonfacility"):
        handler_for("NC")({"f.csv": rows}, 2025)


def test_california_maximums_are_multiples_of_medicare_opps() -> None:
    parse = multiplier_rows(CALIFORNIA, 2025, {"opps": [("27447", "Total knee arthroplasty", 12866.82)]})
    amounts = {r.setting: r.max_amount for r in parse.rows}
    assert amounts == {"opps": round(12866.82 * 1.22, 2), "asc": round(12866.82 * 0.976, 2)}
    assert {r.basis for r in parse.rows} == {"medicare_multiplier"}

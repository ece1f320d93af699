"""OPPS Addendum A/B and ASC Addendum AA parsed from every real excerpt, quirk by quirk."""

from __future__ import annotations

import pytest

from medicaid_assets.defs.reference.fee_schedules.asc_parse import parse_addendum_aa
from medicaid_assets.defs.reference.fee_schedules.opps_asc_cells import AddendumFormatError, decode, release_of
from medicaid_assets.defs.reference.fee_schedules.opps_parse import parse_addendum_a, parse_addendum_b
from medicaid_assets_tests.conftest import REFERENCE


def read(name: str) -> str:
    return decode((REFERENCE / name).read_bytes())


def by_key(rows: list[dict], key: str) -> dict[str, dict]:
    return {str(r[key]): r for r in rows}


def test_addendum_a_preamble_dollar_amounts_with_three_decimals_and_dots() -> None:
    parsed = parse_addendum_a(read("opps_addendum_a_jan2025_head230.csv"))
    assert parsed.title == "Addendum A.- OPPS APCs for CY 2025" and parsed.year == 2025
    assert len(parsed.rows) == 227  # 230 lines less 2 preamble rows and the header
    apc = by_key(parsed.rows, "apc")
    assert apc["0701"]["payment_rate"] == 4146.335  # "$4,146.335"
    assert apc["0701"]["national_unadjusted_copayment"] is None  # "."
    assert apc["0701"]["minimum_unadjusted_copayment"] == 829.27
    assert apc["0706"]["ira_coinsurance_pct"] == 19.787 and apc["0706"]["note"] == "Inflation-adjusted coinsurance"
    assert apc["1511"]["group_title"] == "New Technology - Level 11 ($901 - $1000)"


def test_addendum_a_weights_and_status_indicators() -> None:
    apc = by_key(parse_addendum_a(read("opps_addendum_a_jan2025_apc5012_5524.csv")).rows, "apc")
    assert len(apc) == 119
    assert (apc["5012"]["relative_weight"], apc["5012"]["payment_rate"], apc["5012"]["status_indicator"]) == (
        1.4452,
        128.87,
        "V",
    )
    assert apc["5504"]["payment_rate"] == 3771.0 and apc["5504"]["status_indicator"] == "J1"
    assert apc["5524"]["relative_weight"] == 6.149


def test_addendum_b_unpaid_codes_text_weights_and_change_marks() -> None:
    parsed = parse_addendum_b(read("opps_addendum_b_jan2025_excerpt.csv"))
    assert parsed.year == 2025 and len(parsed.rows) == 118
    codes = by_key(parsed.rows, "hcpcs")
    assert codes["0001F"]["payment_rate"] is None  # " " (one space) for unpaid codes
    assert codes["27447"]["relative_weight"] == 144.297 and codes["27447"]["payment_rate"] == 12866.82
    assert codes["27447"]["minimum_unadjusted_copayment"] == 2573.37  # "$2,573.37"
    assert codes["65091"]["payment_rate"] == 3771.0  # stored as an int
    assert codes["J1885"]["apc"] == "0764" and codes["J1885"]["changed"] is True
    assert codes["G0463"]["apc"] == "5012" and codes["G0463"]["changed"] is False
    assert codes["G0105"]["national_unadjusted_copayment"] == 0.0  # "$0.00", not missing


def test_addendum_aa_windows_bytes_month_headers_markers_and_footer() -> None:
    raw = (REFERENCE / "asc_addendum_aa_jan2025_excerpt.csv").read_bytes()
    assert b"\xff" in raw  # the copyright line's 0xFF bytes: not UTF-8
    parsed = parse_addendum_aa(decode(raw))
    assert parsed.month == "January 2025" and release_of(parsed.month) == "2025Q1"
    assert len(parsed.rows) == 115  # 100 + 14 chosen codes + G0565; NOTE rows and blank rows dropped
    codes = by_key(parsed.rows, "hcpcs")
    assert codes["0102T"]["payment_rate"] == 1579.16 and codes["0102T"]["payment_weight"] == 28.767
    assert codes["0214T"]["payment_indicator"] == "N1" and codes["0214T"]["payment_rate"] is None
    assert codes["G0105"]["marker"] == "**" and codes["G0565"]["marker"] == "*" and codes["27447"]["marker"] is None
    assert codes["45378"]["payment_rate"] == 489.47
    assert not any(str(c).startswith("NOTE") for c in codes)


def test_addendum_aa_title_with_line_break_and_trailing_spaces() -> None:
    text = read("asc_addendum_aa_jan2026_head40.csv")
    assert "2026 \n(Including" in text  # the title's bare LF inside quotes
    parsed = parse_addendum_aa(text)
    assert parsed.title.startswith("Addendum AA -- ASC Covered Surgical Procedures for CY 2026 (Including")
    assert parsed.year == 2026 and parsed.month == "January 2026"
    assert len(parsed.rows) == 35  # 40 physical lines = 39 records, 4 before the data
    codes = by_key(parsed.rows, "hcpcs")
    assert codes["0101T"]["payment_rate"] == 135.54  # "$135.54 "
    assert codes["0102T"]["payment_rate"] == 1644.87  # "$1,644.87 "


def test_addendum_aa_nbsp_bytes_of_october() -> None:
    raw = (REFERENCE / "asc_addendum_aa_oct2025_head8.csv").read_bytes()
    assert b"\xa0" in raw
    parsed = parse_addendum_aa(decode(raw))
    assert parsed.month == "October 2025" and release_of(parsed.month) == "2025Q4"
    assert [r["hcpcs"] for r in parsed.rows] == ["0101T", "0102T", "0200T", "0201T"]


def test_wrong_file_and_bad_amount_name_the_place() -> None:
    with pytest.raises(AddendumFormatError, match="no header row starting with 'hcpcs code'"):
        parse_addendum_b(read("opps_addendum_a_jan2025_head230.csv"), "a.csv")
    text = read("opps_addendum_a_jan2025_apc5012_5524.csv").replace("$128.870", "12O.87", 1)
    with pytest.raises(AddendumFormatError, match=r"a.csv row 4 field 'payment_rate'.*not an amount"):
        parse_addendum_a(text, "a.csv")
    text = read("asc_addendum_aa_oct2025_head8.csv").replace("0101T", "Sum:", 1)
    with pytest.raises(AddendumFormatError, match=r"row 5.*not a HCPCS code"):
        parse_addendum_aa(text, "aa.csv")

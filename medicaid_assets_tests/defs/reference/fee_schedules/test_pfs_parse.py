"""PFS parsing and pricing on the real CMS files: the published payment amounts reproduced to the cent."""

import csv
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from medicaid_assets.defs.reference.fee_schedules.keys import PFS_NATIONAL
from medicaid_assets.defs.reference.fee_schedules.pfs_parse import (
    PfsFormatError,
    parse_anes,
    parse_gpci,
    parse_locco,
    parse_opps_cap,
    parse_pprrvu_csv,
    parse_pprrvu_fixed_width,
    release_key,
    release_links,
)
from medicaid_assets.defs.reference.fee_schedules.pfs_pricing import price_localities, state_amounts
from medicaid_assets_tests.conftest import REFERENCE


def _amounts(rvu_file: str) -> list[dict]:
    return price_localities(
        "2025Q4", parse_pprrvu_csv(REFERENCE / rvu_file), parse_gpci(REFERENCE / "pfs_gpci2025.csv")
    ).to_pylist()


def test_every_row_of_the_published_payment_file_is_reproduced_to_the_cent() -> None:
    """PFREV25C's 40 rows for 76145 (every carrier and locality), from the real PPRRVU row, GPCIs and CF."""
    ours = {(r["carrier"], r["locality"], r["hcpcs_code"]): r for r in _amounts("pfs_pprrvu2025_oct_76145_rows.csv")}
    published = list(csv.reader((REFERENCE / "pfs_pfrev25c_payment_amounts_head40.txt").open()))
    assert len(published) == 40
    for row in published:
        _, carrier, locality, code, modifier, non_facility, facility, *_ = row
        mine = ours[(carrier, locality, code)]
        assert modifier.strip() == mine["modifier"] == ""
        assert (mine["non_facility_amount"], mine["facility_amount"]) == (Decimal(non_facility), Decimal(facility)), row


def test_99213_non_facility_in_alabama_is_81_86_and_its_limiting_charge_is_1_0925_times() -> None:
    rows = [r for r in _amounts("pfs_pprrvu2025_oct_selected_codes.csv") if r["hcpcs_code"] == "99213"]
    alabama = next(r for r in rows if (r["carrier"], r["locality"]) == ("10112", "00"))
    assert alabama["state"] == "AL"
    assert alabama["non_facility_amount"] == Decimal("81.86")
    assert alabama["non_facility_limiting_charge"] == Decimal("89.43")  # 81.86 x 1.0925 = 89.432
    assert len(rows) == 109  # every locality of the GPCI file


def test_only_paid_statuses_are_priced_and_26_tc_are_their_own_rows() -> None:
    rows = _amounts("pfs_pprrvu2025_oct_selected_codes.csv")
    assert {r["status"] for r in rows} == {"A"}  # 36415/80053 (X) and J3301 (E) are not paid under the PFS
    assert {r["hcpcs_code"] for r in rows}.isdisjoint({"36415", "80053", "J3301"})
    assert {r["modifier"] for r in rows if r["hcpcs_code"] == "71046"} == {"", "26", "TC"}


def test_opps_cap_lowers_an_imaging_amount_to_the_opps_formula() -> None:
    """A synthetic TC row whose OPPS RVUs price below its PFS RVUs: the lower amount wins."""
    rvus = parse_pprrvu_csv(REFERENCE / "pfs_pprrvu2025_oct_selected_codes.csv")
    tc = next(r for r in rvus.to_pylist() if (r["hcpcs_code"], r["modifier"]) == ("73721", "TC"))
    tc |= {"opps_non_facility_pe_rvu": Decimal("2.00"), "opps_facility_pe_rvu": Decimal("2.00")}
    gpci = parse_gpci(REFERENCE / "pfs_gpci2025.csv").filter(pa.compute.equal(pa.compute.field("carrier"), "10112"))
    (row,) = price_localities("2025Q4", pa.Table.from_pylist([tc], schema=rvus.schema), gpci).to_pylist()
    # (0 x 1 + 2.00 x 0.869 + 0.05 x 0.575) x 32.3465 = 57.148... -> 57.15, below 4.25 RVUs of PE
    assert row["non_facility_amount"] == Decimal("57.15") and row["opps_capped"]


def test_state_averages_and_national() -> None:
    rvus = parse_pprrvu_csv(REFERENCE / "pfs_pprrvu2025_oct_selected_codes.csv")
    amounts = price_localities("2025Q4", rvus, parse_gpci(REFERENCE / "pfs_gpci2025.csv"))
    states = {
        (r["hcpcs_code"], r["modifier"], r["state"]): r
        for r in state_amounts("2025Q4", rvus, amounts, PFS_NATIONAL).to_pylist()
    }
    assert states[("99213", "", "AL")]["non_facility_amount"] == Decimal("81.86")  # one locality
    assert states[("99213", "", PFS_NATIONAL)]["non_facility_amount"] == Decimal("88.95")  # 2.75 x 32.3465 = 88.952
    ca = [r for r in amounts.to_pylist() if r["hcpcs_code"] == "99213" and not r["modifier"] and r["state"] == "CA"]
    mean = sum(r["non_facility_amount"] for r in ca) / len(ca)
    assert states[("99213", "", "CA")]["non_facility_amount"] == mean.quantize(Decimal("0.01"))
    assert states[("99213", "", "CA")]["localities"] == len(ca) > 20


def test_fixed_width_and_csv_read_the_same_records() -> None:
    fixed = parse_pprrvu_fixed_width(REFERENCE / "pfs_pprrvu2025_oct_fixedwidth_head40.txt").to_pylist()
    by_csv = parse_pprrvu_csv(REFERENCE / "pfs_pprrvu2025_oct_head70.csv").to_pylist()
    assert len(fixed) == 33
    assert fixed == by_csv[:33]


def test_locco_anes_and_opps_cap_keep_leading_zeros_and_carry_the_state_down() -> None:
    locco = parse_locco(REFERENCE / "pfs_25locco.csv").to_pylist()
    counties = {(r["carrier"], r["locality"]): r for r in locco}
    assert len(locco) == len(counties) == 109  # Missouri's 5302,99 is written twice in the real file
    assert counties[("01112", "05")]["state_name"] == "CALIFORNIA"  # written 1112,5 under a blank state
    assert counties[("01112", "62")]["counties"] == "SAN BERNARDINO, RIVERSIDE"
    gpci = {(r["carrier"], r["locality"]) for r in parse_gpci(REFERENCE / "pfs_gpci2025.csv").to_pylist()}
    assert set(counties) == gpci
    anes = {
        (r["carrier"], r["locality"]): r["anesthesia_cf"]
        for r in parse_anes(REFERENCE / "pfs_anes2025.csv").to_pylist()
    }
    assert anes[("10112", "00")] == Decimal("19.31") and set(anes) == gpci
    cap = parse_opps_cap(REFERENCE / "pfs_oppscap_oct2025_head40.csv").to_pylist()
    assert len(cap) == 39 and cap[0] == {
        "hcpcs_code": "0633T",
        "modifier": "TC",
        "status": "C",
        "carrier": "01112",
        "locality": "05",
        "facility_price": Decimal("150.69"),
        "non_facility_price": Decimal("150.69"),
    }


def test_a_bad_number_names_the_file_line_and_field(tmp_path: Path) -> None:
    text = (REFERENCE / "pfs_pprrvu2025_oct_76145_rows.csv").read_text(encoding="cp1252")
    bad = tmp_path / "PPRRVU_bad.csv"
    bad.write_text(text.replace(",0.51,", ",0.5x,"), encoding="cp1252")
    with pytest.raises(PfsFormatError, match=r"PPRRVU_bad.csv line 11: field mp_rvu is '0.5x'"):
        parse_pprrvu_csv(bad)
    with pytest.raises(PfsFormatError, match="no header row"):
        parse_pprrvu_csv(REFERENCE / "pfs_gpci2025.csv")


def test_release_links_pick_one_zip_per_quarter() -> None:
    html = """<a href="/files/zip/rvu26a.zip">A</a><a href="/files/zip/rvu26ar.zip">AR</a>
    <a href="/files/zip/rvu25d-updated-10-31-2025.zip">D upd</a><a href="/files/zip/rvu25d.zip">D</a>
    <a href="/files/zip/pfrev26a.zip">payment file</a><a href="/files/document/rvu26a.pdf">doc</a>"""
    assert release_links(html, "https://www.cms.gov/x/pfs-relative-value-files") == {
        "2025Q4": "https://www.cms.gov/files/zip/rvu25d-updated-10-31-2025.zip",
        "2026Q1": "https://www.cms.gov/files/zip/rvu26ar.zip",
    }
    assert release_key("RVU25D.zip") == "2025Q4" and release_key("pfrev26a.zip") is None

"""Triage kinds on the values the original run left unresolved, and the files written from them."""

import csv
import json
from pathlib import Path

import pytest

from medicaid_assets.core.npi import make_npi
from medicaid_assets.defs.reference.resolution import triage as triage_module
from medicaid_assets.defs.reference.resolution.triage import (
    CODE_KINDS,
    NPI_KINDS,
    CodeKind,
    infer_code_kind,
    infer_npi_kind,
    triage,
    write_triage,
)
from medicaid_assets.defs.reference.resolution.writers import TRIAGE_COLUMNS

VALID_NPI = make_npi(123456789)
LUHN_INVALID_NPI = VALID_NPI[:9] + str((int(VALID_NPI[9]) + 1) % 10)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("H)015", ("unknown", "", "")),
        ("NT/WKN", ("unknown", "", "")),
        ("LTFUP", ("word", "", "")),
        ("VOID", ("word", "", "")),
        ("99213GT", ("cpt_modifier", "99213", "GT")),
        ("0001F25", ("cpt_modifier", "0001F", "25")),
        ("99213GTU3", ("cpt_modifier", "99213", "GTU3")),
        ("Q3014GT", ("level2_modifier", "Q3014", "GT")),
        ("0", ("placeholder", "", "")),
        ("00000", ("placeholder", "", "")),
        ("NULL", ("placeholder", "", "")),
        ("NA", ("placeholder", "", "")),
        ("N/A", ("placeholder", "", "")),
        ("-", ("placeholder", "", "")),
        ("", ("placeholder", "", "")),
        ("D1234", ("cdt", "D1234", "")),
        ("D1234A", ("cdt_suffix", "D1234", "A")),
        ("0450", ("revenue_code", "0450", "")),
        ("99213", ("cpt", "99213", "")),
        ("0001F", ("cpt_cat2", "0001F", "")),
        ("0042T", ("cpt_cat3", "0042T", "")),
        ("0001U", ("cpt_pla", "0001U", "")),
        ("1234A", ("digits_letter", "1234A", "")),
        ("Q3014", ("level2", "Q3014", "")),
        ("X1234", ("odd_5char", "X1234", "")),
        ("AB123", ("odd_5char", "AB123", "")),
        ("123", ("three_digit", "123", "")),
        ("1234567", ("long_number", "1234567", "")),
        ("9921325", ("long_number", "9921325", "")),
        ("0DTJ4ZZ", ("icd10_pcs_like", "0DTJ4ZZ", "")),
        ("GT", ("modifier", "", "GT")),
        ("25", ("modifier", "", "25")),
    ],
)
def test_code_kinds(value: str, expected: tuple[str, str, str]) -> None:
    assert infer_code_kind(value) == CodeKind(*expected, value.upper())


def test_code_kind_reads_the_trimmed_upper_case_value() -> None:
    assert infer_code_kind(" q3014gt ") == CodeKind("level2_modifier", "Q3014", "GT", "Q3014GT")
    assert infer_code_kind(None) == CodeKind("placeholder", "", "", "")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("0000000000", "placeholder"),
        ("9999999999", "placeholder"),
        ("N/A", "placeholder"),
        ("unknown", "placeholder"),
        ("  ", "placeholder"),
        ("ABC1234567", "non_numeric"),
        ("1234567893.0", "non_numeric"),
        ("123456789", "wrong_length"),
        ("12345678901", "wrong_length"),
        (LUHN_INVALID_NPI, "bad_check_digit"),
        (VALID_NPI, "valid_unknown"),
        (f" {VALID_NPI} ", "valid_unknown"),
    ],
)
def test_npi_kinds(value: str, kind: str) -> None:
    assert infer_npi_kind(value) == kind


def test_every_kind_is_in_the_documented_tables() -> None:
    doc = triage_module.__doc__
    assert all(f"\n{kind} " in doc for kind in (*NPI_KINDS, *CODE_KINDS))
    assert len(set(CODE_KINDS)) == len(CODE_KINDS)


UNRESOLVED = [
    ("npi", "0000000000", "invalid", "not a valid NPI", None),
    ("npi", "123456789", "invalid", "not a valid NPI", None),
    ("npi", LUHN_INVALID_NPI, "invalid", "not a valid NPI", None),
    ("npi", VALID_NPI, "not_found", "not_found", 1700000000),
    ("npi", "ABC1234567", "invalid", "not a valid NPI", None),
    ("hcpcs", "0450", "not_found", "not_found", 5),
    ("hcpcs", "99213GT", "not_found", "not_found", 5),
    ("hcpcs", "99214GT", "not_found", "not_found", 5),
    ("hcpcs", "AB123", "not_found", "not_found", 5),
    ("hcpcs", "H)015", "error", "HTTP 500", 6),
    ("hcpcs", "NT/WKN", "error", "HTTP 500", 6),
    ("hcpcs", "Q3014GT", "missing_cache", "missing_cache", None),
    ("hcpcs", "X1234", "not_found", "not_found", 5),
    ("hcpcs", "d1234a", "not_found", "not_found", 5),
    ("hcpcs", "x1234", "not_found", "not_found", 5),
]


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_triage_rows_keep_the_report_columns_and_add_the_kind() -> None:
    result = triage(UNRESOLVED)
    assert result.npi_rows[3] == (
        "npi", VALID_NPI, "not_found", "not_found", "1700000000", "valid_unknown", VALID_NPI, "", VALID_NPI
    )  # fmt: skip
    assert result.npi_rows[4][5:] == ("non_numeric", "", "", "ABC1234567")
    assert result.hcpcs_rows[-2] == (
        "hcpcs", "d1234a", "not_found", "not_found", "5", "cdt_suffix", "D1234", "A", "D1234A"
    )  # fmt: skip
    with pytest.raises(ValueError, match="unexpected identifier_type 'ndc'"):
        triage([("ndc", "0002-1433-80", "not_found", "", None)])


def test_write_triage_files(tmp_path: Path) -> None:
    result = triage(dict(zip(TRIAGE_COLUMNS[:5], row, strict=True)) for row in UNRESOLVED)
    written = write_triage(tmp_path, result)
    assert written == {
        "npi_identifiers_with_inferred_types.csv": 5,
        "npi_unmapped_unique_counts.csv": 5,
        "hcpcs_identifiers_with_inferred_types.csv": 10,
        "hcpcs_unmapped_unique_counts.csv": 6,
        "hcpcs_unknown_unique_with_prefixes.csv": 4,
        "hcpcs_unknown_prefix2_counts.csv": 4,
        "hcpcs_concat_unique_counts.csv": 3,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*written, "summary.json"])

    npi_rows = _read(tmp_path / "npi_identifiers_with_inferred_types.csv")
    assert npi_rows[0] == list(TRIAGE_COLUMNS)
    assert [row[5] for row in npi_rows[1:]] == [
        "placeholder", "wrong_length", "bad_check_digit", "valid_unknown", "non_numeric"
    ]  # fmt: skip
    assert _read(tmp_path / "hcpcs_identifiers_with_inferred_types.csv")[0] == list(TRIAGE_COLUMNS)
    assert _read(tmp_path / "npi_unmapped_unique_counts.csv") == [
        ["inferred_code_type", "count"],
        ["bad_check_digit", "1"],
        ["non_numeric", "1"],
        ["placeholder", "1"],
        ["valid_unknown", "1"],
        ["wrong_length", "1"],
    ]
    assert _read(tmp_path / "hcpcs_unmapped_unique_counts.csv") == [
        ["inferred_code_type", "count"],
        ["odd_5char", "3"],
        ["cpt_modifier", "2"],
        ["unknown", "2"],
        ["cdt_suffix", "1"],
        ["level2_modifier", "1"],
        ["revenue_code", "1"],
    ]
    assert _read(tmp_path / "hcpcs_unknown_unique_with_prefixes.csv") == [
        ["identifier_norm", "count", "len", "prefix2", "prefix3"],
        ["X1234", "2", "5", "X1", "X12"],
        ["AB123", "1", "5", "AB", "AB1"],
        ["H)015", "1", "5", "H)", "H)0"],
        ["NT/WKN", "1", "6", "NT", "NT/"],
    ]
    assert _read(tmp_path / "hcpcs_unknown_prefix2_counts.csv") == [
        ["prefix2", "count"],
        ["X1", "2"],
        ["AB", "1"],
        ["H)", "1"],
        ["NT", "1"],
    ]
    assert _read(tmp_path / "hcpcs_concat_unique_counts.csv") == [
        ["inferred_code_type", "suffix_or_modifier", "count"],
        ["cpt_modifier", "GT", "2"],
        ["cdt_suffix", "A", "1"],
        ["level2_modifier", "GT", "1"],
    ]

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == result.summary()
    assert summary["npi"]["rows"] == 5
    assert summary["npi"]["statuses"] == {"invalid": 4, "not_found": 1}
    assert list(summary["npi"]["kinds"]) == list(NPI_KINDS)
    assert list(summary["hcpcs"]["kinds"]) == list(CODE_KINDS)
    assert summary["hcpcs"]["kinds"]["odd_5char"] == 3
    assert summary["hcpcs"]["kinds"]["cpt"] == 0
    assert summary["hcpcs"]["statuses"] == {"not_found": 7, "error": 2, "missing_cache": 1}


def test_empty_report_writes_headers_and_zero_counts(tmp_path: Path) -> None:
    written = write_triage(tmp_path, triage([]))
    assert set(written.values()) == {0}
    assert _read(tmp_path / "hcpcs_concat_unique_counts.csv") == [["inferred_code_type", "suffix_or_modifier", "count"]]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["npi"] == {"rows": 0, "statuses": {}, "kinds": dict.fromkeys(NPI_KINDS, 0)}

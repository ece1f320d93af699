"""The FTS parser on every real ResDAC layout, and the refusal of `.dat` files that disagree with their FTS."""

from pathlib import Path

import pytest

from medicaid_assets.core.fts import (
    LayoutError,
    check_data_file,
    consistency_errors,
    parse_count,
    parse_fts,
    read_fts,
)

REFERENCE = Path(__file__).parents[1] / "data" / "reference" / "resdac"


def test_the_complete_mbsf_layout_has_185_fields_chained_to_record_length_526():
    layout = read_fts(REFERENCE / "resdac_fts_synthetic_mbsf_abcd_summary_2016.fts")
    assert layout.variant == "fixed" and layout.has_short_names
    assert len(layout.fields) == 185 == layout.declared_columns
    assert layout.record_length == 526 == layout.declared_record_length
    assert consistency_errors(layout) == []
    assert [f.number for f in layout.fields] == list(range(1, 186))
    year = layout.fields[1]
    assert (year.name, year.short_name, year.type, year.start, year.length) == (
        "BENE_ENROLLMT_REF_YR",
        "RFRNC_YR",
        "NUM",
        16,
        4,
    )
    dob = next(f for f in layout.fields if f.name == "BENE_BIRTH_DT")
    assert (dob.type, dob.start, dob.length, dob.short_name) == ("DATE", 101, 8, "BENE_DOB")
    assert layout.fields[-1].name == "CST_SHR_GRP_CD_12" and layout.fields[-1].start == 525
    # The masked count keeps its thousands commas; they are read as digits, not as a field separator.
    assert layout.declared_rows == 1000000818481
    assert [p.name for p in layout.parts] == ["mbsf_abcd_summary_resXXXXXXXX_reqXXXXXXXX_2016.dat"]


def test_medpar_excerpt_reads_its_three_rows_and_reports_the_masked_header_as_contradictions():
    layout = read_fts(REFERENCE / "resdac_fts_medpar_all_file_2011_excerpt.txt")
    assert [(f.name, f.short_name, f.start, f.length) for f in layout.fields] == [
        ("BENE_ID", "BENE_ID", 1, 15),
        ("MEDPAR_ID", "MEDPARID", 16, 15),
        ("MEDPAR_YR_NUM", "MEDPAR_YR_NUM", 31, 4),
    ]
    assert layout.record_length == 34
    assert consistency_errors(layout) == [
        "declares 381 columns but lists 3",
        "declares record length 2 but its fields span 34",
    ]


def test_a_layout_without_short_names():
    layout = read_fts(REFERENCE / "resdac_fts_bene_xwalk_noshortname.txt")
    assert not layout.has_short_names
    assert [(f.name, f.short_name, f.type, f.start, f.length) for f in layout.fields] == [
        ("PATIENTNUM_HASH", None, "CHAR", 1, 40),
        ("BENE_ID", None, "CHAR", 41, 15),
        ("PAT_MATCH", None, "NUM", 56, 1),
        ("SEX_MATCH", None, "NUM", 57, 1),
        ("DOB_MATCH", None, "NUM", 58, 1),
    ]
    assert layout.declared_rows == 1_000_000 and layout.declared_columns == 5 and layout.record_length == 58


def test_a_multi_part_header_lists_every_part_with_its_rows():
    layout = read_fts(REFERENCE / "resdac_fts_bcarrier_line_multifile_header.txt")
    assert [(p.name, p.rows) for p in layout.parts] == [
        ("bcarrier_line_j_res000000000_req000000_2011_001.dat", 1_000_000),
        ("bcarrier_line_j_res000000000_req000000_2011_002.dat", 2_000_000),
        ("bcarrier_line_j_res000000000_req000000_2011_003.dat", 3_000_000),
    ]
    assert layout.rows == 6_000_000 and layout.fields == ()
    assert consistency_errors(layout) == ["lists no fields (a header page without its column table)"]


def test_a_header_without_row_counts():
    layout = read_fts(REFERENCE / "resdac_fts_hha_base_header_norows.txt")
    assert layout.description == "HHA BASE CLAIM FILE - VERSION J"
    assert [(p.name, p.rows) for p in layout.parts] == [("hha_base_claims_j_res000050354_req005900_2011.dat", None)]
    assert layout.rows is None


def test_the_max_csv_variant_lists_parts_from_its_data_file_lines_and_derives_positions_from_widths():
    layout = read_fts(REFERENCE / "resdac_fts_max_ip_csv_variant.txt")
    assert layout.variant == "csv"
    assert [(p.name, p.rows) for p in layout.parts] == [("maxdata_ia_ip_2011.csv", 1), ("maxdata_in_ip_2011.csv", 2)]
    assert [(f.name, f.type, f.start, f.length) for f in layout.fields] == [
        ("BENE_ID", "CHAR", 1, 15),
        ("MSIS_ID", "CHAR", 16, 32),
        ("STATE_CD", "CHAR", 48, 2),
        ("YR_NUM", "NUM", 50, 4),
    ]
    assert layout.rows == 3


def test_the_msis_csv_variant_with_the_af_header():
    layout = read_fts(REFERENCE / "resdac_fts_msis_xwalk_csv_af_variant.txt")
    assert layout.variant == "csv" and layout.declared_rows == 100 and layout.declared_columns == 6
    assert [f.name for f in layout.fields] == [
        "PATIENTNUM_HASH",
        "MSIS_ID",
        "STATE_CD",
        "PAT_MATCH",
        "SEX_MATCH",
        "DOB_MATCH",
    ]
    assert [f.length for f in layout.fields] == [40, 32, 2, 1, 1, 1]
    assert consistency_errors(layout) == []


def test_w_d_lengths_give_a_scale_and_counts_keep_commas():
    text = (REFERENCE / "resdac_fts_bene_xwalk_noshortname.txt").read_text(encoding="latin-1")
    text = text.replace("NUM       56      1", "NUM       56    5.2").replace("57      1", "61      1")
    text = text.replace("58      1", "62      1")
    layout = parse_fts(text)
    pat = layout.fields[2]
    assert (pat.start, pat.length, pat.scale) == (56, 5, 2) and layout.record_length == 62
    assert parse_count("1,234,567") == 1_234_567
    with pytest.raises(LayoutError):
        parse_count("n/a")


def test_a_garbled_table_names_the_file_and_line():
    text = (REFERENCE / "resdac_fts_bene_xwalk_noshortname.txt").read_text(encoding="latin-1")
    with pytest.raises(LayoutError, match=r"xwalk.fts, line 32: cannot read the field row"):
        parse_fts(text.replace("CHAR      41     15", "CHAR      4x     15"), source="xwalk.fts")
    with pytest.raises(LayoutError, match=r"x.fts, line 27: unknown column heading 'fld. xyz. abc'"):
        parse_fts(text.replace("Len.", "Xyz.").replace("w.d", "abc"), source="x.fts")


def _mbsf_dat(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "mbsf.dat"
    path.write_bytes(b"".join(lines))
    return path


def test_a_dat_with_the_right_shape_passes_and_the_wrong_record_length_or_rows_is_refused(tmp_path):
    layout = read_fts(REFERENCE / "resdac_fts_synthetic_mbsf_abcd_summary_2016.fts")
    good = _mbsf_dat(tmp_path, [b"x" * 526 + b"\n"] * 3)
    assert check_data_file(layout, good, 3) == 3
    assert check_data_file(layout, good, None) == 3
    with pytest.raises(LayoutError, match=r"mbsf.dat: row count expected 4 \(from the FTS\), found 3"):
        check_data_file(layout, good, 4)
    short = _mbsf_dat(tmp_path, [b"x" * 525 + b"\n"] * 3)
    with pytest.raises(LayoutError, match=r"mbsf.dat: record length expected 526 .*found 525"):
        check_data_file(layout, short, 3)
    ragged = _mbsf_dat(tmp_path, [b"x" * 526 + b"\n", b"x" * 530 + b"\n"])
    with pytest.raises(LayoutError, match="not a multiple of 527 bytes"):
        check_data_file(layout, ragged, 2)
    crlf = _mbsf_dat(tmp_path, [b"x" * 526 + b"\r\n"] * 2)
    assert check_data_file(layout, crlf, 2) == 2


def test_a_self_contradicting_fts_is_refused_before_any_data_is_read(tmp_path):
    layout = read_fts(REFERENCE / "resdac_fts_medpar_all_file_2011_excerpt.txt")
    dat = _mbsf_dat(tmp_path, [b"x" * 34 + b"\n"])
    with pytest.raises(LayoutError, match=r"contradicts itself.*declares 381 columns but lists 3"):
        check_data_file(layout, dat, 1)


def test_an_oversized_fts_is_refused(tmp_path):
    big = tmp_path / "big.fts"
    with big.open("wb") as handle:
        handle.truncate(5 * 1024 * 1024)
    with pytest.raises(LayoutError, match="larger than any FTS"):
        read_fts(big)

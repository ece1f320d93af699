"""Parsers of the CMS files behind the CPT/HCPCS fallback, on the real samples and the generated archive."""

import csv
import shutil
from pathlib import Path

import pytest

import medicaid_assets
from medicaid_assets.core.safe_zip import extract_zip
from medicaid_assets.defs.reference.code_sets.fallback import (
    COLUMNS,
    CodeRow,
    FallbackError,
    build_fallback,
    classify,
    join_continuations,
    normalise_code,
    parse_delimited,
    parse_level2_csv,
    parse_payment_file,
    parse_pprrvu_csv,
    parse_pprrvu_fixed_width,
    parse_status_table,
    write_fallback,
)
from medicaid_assets.sample_world.code_universe import code_universe
from medicaid_assets.sample_world.cpt_archives import CPT_ZIP_URL, LEVEL2_COLUMNS
from medicaid_assets.sample_world.urls import disk_path
from medicaid_assets.sample_world.world import world_spec

FORMATS = Path(medicaid_assets.__file__).parent / "formats"
HEAD70 = FORMATS / "pfs_pprrvu2025_oct_head70.csv"
SELECTED = FORMATS / "pfs_pprrvu2025_oct_selected_codes.csv"
SAMPLE_2023 = FORMATS / "pprrvu_sample.csv"
FIXED_WIDTH = FORMATS / "pfs_pprrvu2025_oct_fixedwidth_head40.txt"
PAYMENT = FORMATS / "pfs_pfrev25c_payment_amounts_head40.txt"
STATUS = FORMATS / "pfs_status_codes_toad.csv"


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="latin-1").splitlines(keepends=True)


def _by_code(rows) -> dict[str, CodeRow]:
    return {r.hcpcs_code: r for r in rows}


@pytest.fixture(scope="module")
def extracted(world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session world's fee-schedule zip, extracted as the archives asset does."""
    target = tmp_path_factory.mktemp("cpt") / "archive"
    extract_zip(world_dir / "files" / disk_path(CPT_ZIP_URL), target)
    return target


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("99213", "99213"),
        (" 99213 ", "99213"),
        ("99213.0", "99213"),
        ("g0 439", "G0439"),
        ("t1019\t", "T1019"),
        ("0001f", "0001F"),
        ("9921", None),
        ("99213GT", None),
        ("A-123", None),
        ("", None),
        ("NULL", None),
    ],
)
def test_normalise_code(raw: str, code: str | None) -> None:
    assert normalise_code(raw) == code


def test_pprrvu_csv_real_head_gives_real_short_descriptors() -> None:
    rows = list(parse_pprrvu_csv(_lines(HEAD70), "x.csv"))
    assert len(rows) == 60 == len({r.hcpcs_code for r in rows})
    by_code = _by_code(rows)
    assert by_code["0001F"] == CodeRow("0001F", short_desc="Heart failure composite", source_file="x.csv")
    assert by_code["00100"].short_desc == "Anesth salivary gland"
    assert not any(r.long_desc or r.placeholder or r.obsolete for r in rows)


def test_pprrvu_csv_uses_rows_without_modifier_only() -> None:
    rows = list(parse_pprrvu_csv(_lines(SELECTED), "s.csv"))
    assert [r.hcpcs_code for r in rows].count("71046") == 1 and len(rows) == 15
    by_code = _by_code(rows)
    assert by_code["99213"].short_desc == "Office o/p est low 20 min"  # CPT codes get their real descriptor
    assert by_code["J3301"].short_desc == "Triamcinolone acet inj nos"
    older = _by_code(parse_pprrvu_csv(_lines(SAMPLE_2023), "old.csv"))
    assert len(older) == 13
    assert older["H2015"].short_desc == "Comp comm supp svc, 15 min"  # quoted field with a comma
    assert older["G0106"].short_desc == "Colon ca screen;barium enema"


def test_pprrvu_csv_without_its_header_is_an_error() -> None:
    with pytest.raises(FallbackError, match=r"bad\.csv: no PPRRVU header line"):
        list(parse_pprrvu_csv(["a,b,c\n", "99213,,x\n"], "bad.csv"))


def test_pprrvu_fixed_width_real_rows_match_the_csv() -> None:
    fixed = list(parse_pprrvu_fixed_width(_lines(FIXED_WIDTH), "f.txt"))
    assert len(fixed) == 33
    from_csv = _by_code(parse_pprrvu_csv(_lines(HEAD70), "f.txt"))
    assert all(from_csv[r.hcpcs_code] == r for r in fixed)
    assert fixed[0] == CodeRow("0001F", short_desc="Heart failure composite", source_file="f.txt")


def test_pprrvu_deleted_status_is_obsolete() -> None:
    lines = [*_lines(HEAD70)[:10], "99999,,Old deleted thing,D,,0.00\n", "99998,,Gone too,F,,0.00\n"]
    assert [r.obsolete for r in parse_pprrvu_csv(lines, "d.csv")] == [True, True]


def test_payment_file_real_rows_give_one_status_placeholder_per_code() -> None:
    statuses = parse_status_table(_lines(STATUS), "status.csv")
    assert sorted(statuses) == list("ABCDEFGHIJMNPRTX")
    rows = list(parse_payment_file(_lines(PAYMENT), "PFALL.txt", statuses))
    assert rows == [
        CodeRow(
            "76145",
            short_desc="CPT/HCPCS code from CMS PFS file (status A)",
            long_desc=statuses["A"],
            source_file="PFALL.txt",
            placeholder=True,
        )
    ]
    assert statuses["A"].startswith("Active Code.")


def test_status_table_needs_its_columns() -> None:
    with pytest.raises(FallbackError, match="not a status-code table"):
        parse_status_table(["Code,Meaning\n", "A,x\n"], "s.csv")


def test_classify_real_samples() -> None:
    def head(path: Path) -> list[str]:
        return [line.rstrip("\r\n") for line in _lines(path)[:20]]

    assert classify(HEAD70.name, head(HEAD70)) == "pprrvu_csv"
    assert classify(SAMPLE_2023.name, head(SAMPLE_2023)) == "pprrvu_csv"
    assert classify(FIXED_WIDTH.name, head(FIXED_WIDTH)) == "pprrvu_fixed_width"
    assert classify("PFALL26AR.txt", head(PAYMENT)) == "payment"
    assert classify(PAYMENT.name, head(PAYMENT)) is None  # payment rows carry no header: known by name only
    assert classify(STATUS.name, head(STATUS)) == "status_table"
    assert classify("headers.csv", ["DATA ELEMENT,LOCATION,COBOL PIC,DESCRIPTION"]) is None
    assert classify("codes.tsv", ["hcpcs\tdisplay", "A0021\tx"]) == "delimited"
    assert classify("empty.csv", []) is None


def test_level2_file_of_the_world(extracted: Path, world_dir: Path) -> None:
    path = next(extracted.rglob("HCPC2026_JAN_ANWEB.csv"))
    assert classify(path.name, path.read_text().splitlines()[:20]) == "level2"
    rows = _by_code(parse_level2_csv(_lines(path), "l2.csv"))
    universe = [c for c in code_universe(world_spec(world_dir)) if c.in_level2_file]
    assert sorted(rows) == sorted(c.code for c in universe)  # modifier records (GT, TC, ...) are skipped
    for code in universe:
        rec, row = code.records[0], rows[code.code]
        assert (row.short_desc, row.long_desc) == (rec.short_desc, rec.long_desc)
        assert (row.add_dt, row.act_eff_dt, row.term_dt) == (rec.add_dt, rec.act_eff_dt, rec.term_dt)
        assert (row.obsolete, row.is_noc) == (rec.obsolete, rec.is_noc)
    assert any(len(c.records[0].long_desc) > 80 for c in universe)  # continuation records were exercised


def _level2(rows: list[dict[str, str]]) -> list[str]:
    out = [",".join(LEVEL2_COLUMNS) + "\r\n"]
    for values in rows:
        out.append(",".join(f'"{values.get(c, "")}"' for c in LEVEL2_COLUMNS) + "\r\n")
    return out


def test_level2_continuations_in_seqnum_order_with_trimmed_spaces() -> None:
    lines = _level2(
        [
            {"HCPC": "E1399", "SEQNUM": "00200", "RECID": "4", "LONG_DESCRIPTION": "otherwise classified"},
            {
                "HCPC": "E1399",
                "SEQNUM": "00100",
                "RECID": "3",
                "LONG_DESCRIPTION": "Durable medical equipment, miscellaneous, not",  # space trimmed by an export
                "SHORT_DESCRIPTION": "Durable medical equipment mi",
                "ADD_DT": "19860101",
                "ACT_EFF_DT": "20020101",
                "TERM_DT": "20241231",
            },
            {"HCPC": "A9999", "SEQNUM": "00200", "RECID": "4", "LONG_DESCRIPTION": "orphan continuation"},
            {"HCPC": "GT", "SEQNUM": "00100", "RECID": "7", "LONG_DESCRIPTION": "Via interactive audio"},
        ]
    )
    assert list(parse_level2_csv(lines, "l2.csv")) == [
        CodeRow(
            "E1399",
            short_desc="Durable medical equipment mi",
            long_desc="Durable medical equipment, miscellaneous, not otherwise classified",
            add_dt="19860101",
            act_eff_dt="20020101",
            term_dt="20241231",
            obsolete=True,
            is_noc=True,
            source_file="l2.csv",
        )
    ]


@pytest.mark.parametrize(
    ("chunks", "text"),
    [
        (["Wheelchair cushion, ", "each"], "Wheelchair cushion, each"),
        (["Wheelchair cushion,", "each"], "Wheelchair cushion, each"),  # trimmed space put back
        (["x" * 80, "yz"], "x" * 80 + "yz"),  # a full-width chunk may end mid-word
        (["one"], "one"),
        ([], ""),
    ],
)
def test_join_continuations(chunks: list[str], text: str) -> None:
    assert join_continuations(chunks) == text


def test_delimited_file_with_header_aliases() -> None:
    lines = [
        "CPT Code|Short Description|Long Description|Effective Date|NOC\n",
        " 99213.0|Office visit|Office or other outpatient visit, established patient|20210101|no\n",
        "E1399|DME misc|Durable medical equipment, miscellaneous|19860101|yes\n",
        "VOID|junk|not a code||\n",
        "A0021|||\n",
    ]
    rows = list(parse_delimited(lines, "codes.txt"))
    assert [r.hcpcs_code for r in rows] == ["99213", "E1399"]
    assert rows[0].long_desc.startswith("Office or other") and rows[0].act_eff_dt == "20210101"
    assert [r.is_noc for r in rows] == [False, True]  # the file's own column wins over wording
    display = list(
        parse_delimited(["hcpcs\tdisplay\n", "g0439\tAnnual wellness visit, not otherwise classified\n"], "t")
    )
    assert display == [
        CodeRow("G0439", short_desc="Annual wellness visit, not otherwise classified", is_noc=True, source_file="t")
    ]
    with pytest.raises(FallbackError, match="names no code column"):
        list(parse_delimited(["code;price\n", "99213;10\n"], "p.csv"))


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding, newline="")


def test_build_keeps_the_richest_row_and_names_its_file(tmp_path: Path) -> None:
    root = tmp_path / "cpt"
    shutil.copy(STATUS, _dir(root / "a") / "status_code.csv")
    shutil.copy(PAYMENT, root / "a" / "PFALL25C.txt")
    # The payment file alone: a status placeholder, as the original wrote.
    build = build_fallback(root)
    assert [(r.hcpcs_code, r.placeholder, r.source_file) for r in build.rows] == [("76145", True, "a/PFALL25C.txt")]
    # A PPRRVU row describes the code; it beats the placeholder however long the status meaning is.
    head = "".join(_lines(HEAD70)[:10])
    _write(root / "b" / "PPRRVU.csv", head + "76145,,Mri abdomen w/o dye,A,,1.00\r\n")
    # A second copy of the same rows ties: the file that sorts first keeps the code.
    _write(root / "c" / "PPRRVU.csv", head + "76145,,Mri abdomen w/o dye,A,,1.00\r\n")
    assert build_fallback(root).rows == [CodeRow("76145", short_desc="Mri abdomen w/o dye", source_file="b/PPRRVU.csv")]
    # A table with a long description (here Latin-1, as older CMS files are) is richer still.
    _write(root / "d" / "extra.csv", "code,description\n76145,Magnetic resonance élastography\n", "latin-1")
    # Unfinished extractions, unknown layouts and the fallback itself are not read.
    _write(root / "e.partial" / "x.csv", "code,description\n76145,Magnetic resonance elastography of the whole body\n")
    _write(root / "notes.txt", "free text\n")
    _write(root / "cpt_hcpcs_fallback.csv", "hcpcs_code,long_desc\n76145,an older fallback with a longer text\n")
    build = build_fallback(root, exclude=[root / "cpt_hcpcs_fallback.csv"])
    assert build.rows == [CodeRow("76145", long_desc="Magnetic resonance élastography", source_file="d/extra.csv")]
    assert build.kinds == {
        "a/PFALL25C.txt": "payment",
        "a/status_code.csv": "status_table",
        "b/PPRRVU.csv": "pprrvu_csv",
        "c/PPRRVU.csv": "pprrvu_csv",
        "d/extra.csv": "delimited",
    }
    assert build.skipped == ["notes.txt"]
    assert build.parsed == {
        "a/status_code.csv": 16,
        "a/PFALL25C.txt": 1,
        "b/PPRRVU.csv": 1,
        "c/PPRRVU.csv": 1,
        "d/extra.csv": 1,
    }
    assert build.rows_per_source() == {**dict.fromkeys(build.kinds, 0), "d/extra.csv": 1}


def test_build_over_the_world_archive(extracted: Path, world_dir: Path) -> None:
    build = build_fallback(extracted)
    universe = {c.code: c for c in code_universe(world_spec(world_dir))}
    assert {r.hcpcs_code for r in build.rows} == {c for c, x in universe.items() if x.in_pprrvu or x.in_level2_file}
    csv_rows = list(parse_pprrvu_csv(_lines(next(extracted.rglob("PPRRVU2026_Jan.csv"))), "s"))
    fixed_rows = list(parse_pprrvu_fixed_width(_lines(next(extracted.rglob("PPRRVU2026_Jan.txt"))), "s"))
    assert csv_rows == fixed_rows  # the two PPRRVU layouts agree
    sources = {r.source_file.rsplit("/", 1)[-1] for r in build.rows}
    assert sources == {"PPRRVU2026_Jan.csv", "HCPC2026_JAN_ANWEB.csv"}  # placeholders never win here


def test_write_fallback_is_exact_and_skips_an_identical_file(tmp_path: Path) -> None:
    path = tmp_path / "raw" / "cpt" / "cpt_hcpcs_fallback.csv"
    rows = [
        CodeRow("0001F", short_desc="Heart failure composite", source_file="a.csv"),
        CodeRow("E1399", "DME misc", 'Durable "medical", misc', "19860101", "", "20241231", True, True, "b.csv"),
    ]
    assert write_fallback(rows, path)
    assert path.read_text().splitlines() == [
        ",".join(COLUMNS),
        "0001F,Heart failure composite,,,,,false,false,a.csv",
        'E1399,DME misc,"Durable ""medical"", misc",19860101,,20241231,true,true,b.csv',
    ]
    assert list(csv.DictReader(path.open()))[1]["long_desc"] == 'Durable "medical", misc'
    mtime = path.stat().st_mtime_ns
    assert not write_fallback(rows, path)
    assert path.stat().st_mtime_ns == mtime
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind

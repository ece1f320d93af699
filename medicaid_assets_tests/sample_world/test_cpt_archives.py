"""The fee-schedule zip must look like the real CMS files, so the pipeline's parsers meet real layouts offline."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from medicaid_assets.sample_world import cpt_archives as cpt
from medicaid_assets.sample_world.code_universe import code_universe
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import disk_path

SPEC = WorldSpec(seed=3, scale=0.0001)
PPRRVU_SAMPLES = ("pprrvu_sample.csv", "pfs_pprrvu2025_oct_selected_codes.csv", "pfs_pprrvu2025_oct_head70.csv")

# One regex per field of the payment-amount record, read off the real PFREV25C rows (checked below
# against them); the modifier also takes the component modifiers of the layout.
AMOUNT = r"\d{7}\.\d{2}"
PFALL_FIELDS = (
    r"\d{4}",
    r"\d{5}",
    r"\d{2}",
    r"[0-9A-Z]{5}",
    r"(?:  |26|TC|53)",
    AMOUNT,
    AMOUNT,
    " ",
    r"[0-9]",
    r"[A-Z]",
    r"[0-9]",
    AMOUNT,
    AMOUNT,
    r"[0-9]",
    AMOUNT,
    AMOUNT,
)
PFALL_LINE = re.compile(",".join(f'"{f}"' for f in PFALL_FIELDS))


def _real(name: str) -> bytes:
    return resources.files("medicaid_assets.formats").joinpath(name).read_bytes()


def _real_lines(name: str) -> list[str]:
    return _real(name).decode("latin-1").splitlines()


def _fields(line: str) -> list[str]:
    return next(csv.reader([line]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    files = tmp_path_factory.mktemp("files")
    return files, cpt.write_cpt_files(SPEC, files)


@pytest.fixture(scope="module")
def outer(world: tuple[Path, dict]) -> zipfile.ZipFile:
    files, _ = world
    return zipfile.ZipFile(files / disk_path(cpt.CPT_ZIP_URL))


@pytest.fixture(scope="module")
def rvu(outer: zipfile.ZipFile) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(outer.read(cpt.RVU_ZIP)))


def _text(zf: zipfile.ZipFile, name: str) -> str:
    return zf.read(name).decode("latin-1")


def test_same_spec_same_bytes(tmp_path: Path) -> None:
    first = cpt.write_cpt_files(SPEC, tmp_path / "a")
    second = cpt.write_cpt_files(SPEC, tmp_path / "b")
    assert first == second
    for url in (cpt.CPT_ZIP_URL, cpt.CPT_INDEX_URL):
        assert (tmp_path / "a" / disk_path(url)).read_bytes() == (tmp_path / "b" / disk_path(url)).read_bytes()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_outer_zip_nests_zips_and_has_a_folder_with_a_trailing_space(
    outer: zipfile.ZipFile, rvu: zipfile.ZipFile
) -> None:
    names = outer.namelist()
    assert {name.split("/")[0] for name in names} == {"PFREV26A"}
    assert any(part.endswith(" ") and part.strip() == "PFREV26AR_nonQP" for name in names for part in name.split("/"))
    assert cpt.RVU_ZIP in names
    assert {cpt.PPRRVU_CSV, cpt.PPRRVU_TXT, cpt.LEVEL2_ZIP} <= set(rvu.namelist())
    level2 = zipfile.ZipFile(io.BytesIO(rvu.read(cpt.LEVEL2_ZIP)))
    assert level2.namelist() == [cpt.LEVEL2_CSV]
    for zf in (outer, rvu, level2):
        assert {info.date_time for info in zf.infolist()} == {cpt.ZIP_DATE}
        assert {info.compress_type for info in zf.infolist() if not info.is_dir()} == {zipfile.ZIP_DEFLATED}


def test_pprrvu_csv_preamble_has_the_real_layout(rvu: zipfile.ZipFile) -> None:
    ours = _text(rvu, cpt.PPRRVU_CSV).split("\r\n")[:10]
    real = _real_lines("pfs_pprrvu2025_oct_head70.csv")[:10]
    assert [len(_fields(line)) for line in ours] == [len(_fields(line)) for line in real]
    assert ours[5:] == real[5:]  # the split header, header line included
    assert ours[9].startswith("HCPCS,MOD,DESCRIPTION,CODE,PAYMENT,RVU,")
    assert "2026" in ours[0]


def test_pprrvu_csv_rows(rvu: zipfile.ZipFile) -> None:
    text = _text(rvu, cpt.PPRRVU_CSV)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")[10:-1]
    rows = [_fields(line) for line in lines]
    assert rows and all(len(row) == 31 and len(row[0]) == 5 for row in rows)
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    assert {c.code for c in code_universe(SPEC) if c.in_pprrvu} == {row[0] for row in rows}
    assert {row[1] for row in rows} >= {"", "26", "TC", "53"}
    ours = set(lines)
    for name in PPRRVU_SAMPLES:
        for line in _real_lines(name)[10:]:
            assert line in ours, f"real row of {name} missing: {line}"


def test_pprrvu_fixed_width_matches_the_real_records(rvu: zipfile.ZipFile) -> None:
    text = _text(rvu, cpt.PPRRVU_TXT)
    real = _real_lines(cpt.FIXED_WIDTH_SAMPLE)
    lines = text.split("\r\n")[:-1]
    header = [line for line in real if line.startswith("HDR")]
    assert lines[: len(header)] == header
    body = lines[len(header) :]
    assert all(len(line) == cpt.FIXED_WIDTH_LENGTH for line in body)
    assert len(body) == len(_text(rvu, cpt.PPRRVU_CSV).split("\r\n")) - 11
    ours = set(body)
    for line in real[len(header) :]:
        assert line in ours


def test_fixed_width_line_rejects_a_value_too_wide() -> None:
    row = _fields(_real_lines("pfs_pprrvu2025_oct_head70.csv")[10])
    row[5] = "1234.56"
    with pytest.raises(ValueError, match="wider"):
        cpt.fixed_width_line(row)


def test_pfall_records_have_the_real_layout(outer: zipfile.ZipFile, rvu: zipfile.ZipFile) -> None:
    real = _real_lines("pfs_pfrev25c_payment_amounts_head40.txt")
    assert all(PFALL_LINE.fullmatch(line) for line in real)
    text = _text(outer, cpt.OVERLAY_DIR + cpt.PFALL_NAME)
    assert text.endswith("\r\n")
    lines = text.split("\r\n")[:-1]
    assert all(len(line) == len(real[0]) for line in lines)
    bad = [line for line in lines if not PFALL_LINE.fullmatch(line)]
    assert not bad, bad[:3]
    records = [_fields(line) for line in lines]
    real_pairs = {tuple(_fields(line)[1:3]) for line in real}
    assert {tuple(r[1:3]) for r in records} <= real_pairs
    pprrvu = {row[0] for row in map(_fields, _text(rvu, cpt.PPRRVU_CSV).split("\r\n")[10:-1])}
    assert {r[3] for r in records} == pprrvu
    assert any(float(r[5]) > 0 for r in records)


def test_pfall_amounts_follow_the_real_formula() -> None:
    """The real 76145 PPRRVU row gives the real PFREV25C amounts to the cent."""
    row = _fields(
        "76145,,Med physic dos eval rad exps,A,,0.00,29.03,,29.03,NA,0.51,29.54,29.54,3,XXX,0.00,0.00,0.00,"
        "0,0,0,0,0,,32.3465,09,0,99,0.00,0.00,0.00"
    )
    real = {tuple(f[1:3]): f for f in map(_fields, _real_lines("pfs_pfrev25c_payment_amounts_head40.txt"))}
    for carrier, locality, *gpci in cpt.LOCALITIES:
        assert cpt.pfall_fields(row, carrier, locality, tuple(gpci))[1:] == real[(carrier, locality)][1:]


def test_level2_file(rvu: zipfile.ZipFile) -> None:
    level2 = zipfile.ZipFile(io.BytesIO(rvu.read(cpt.LEVEL2_ZIP)))
    text = level2.read(cpt.LEVEL2_CSV).decode("latin-1")
    assert "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, records = rows[0], rows[1:]
    assert len(header) == 48
    assert header[:5] == ["HCPC", "SEQNUM", "RECID", "LONG_DESCRIPTION", "SHORT_DESCRIPTION"]
    assert [header[i] for i in (25, 29, 37, 44, 45, 46, 47)] == [
        "XREF1",
        "XREF5",
        "BETOS",
        "ADD_DT",
        "ACT_EFF_DT",
        "TERM_DT",
        "ACTION_CD",
    ]
    assert all(len(r) == 48 and len(r[3]) <= 80 and re.fullmatch(r"\d{5}", r[1]) for r in records)
    longs: dict[str, str] = {}
    for r in sorted(records, key=lambda r: (r[0], r[1])):
        if r[2] in ("3", "4"):
            assert (r[2] == "3") == (r[1] == "00100")
            longs[r[0]] = longs.get(r[0], "") + r[3]
    expected = {c.code: c.records[0] for c in code_universe(SPEC) if c.in_level2_file}
    assert longs == {code: rec.long_desc for code, rec in expected.items()}
    firsts = {r[0]: r for r in records if r[2] == "3"}
    for code, rec in expected.items():
        assert firsts[code][4] == rec.short_desc
        assert firsts[code][44:47] == [rec.add_dt, rec.act_eff_dt, rec.term_dt]
    assert any(r[2] == "4" for r in records)
    modifiers = [r for r in records if r[2] in ("7", "8")]
    assert modifiers and all(len(r[0]) == 2 for r in modifiers)
    assert {r[2] for r in modifiers} == {"7", "8"}


@pytest.mark.parametrize(
    ("text", "chunks"),
    [
        ("short", ["short"]),
        ("aaaa bbbb cccc", ["aaaa ", "bbbb ", "cccc"]),
        ("abcdefghij klm", ["abcdef", "ghij ", "klm"]),
    ],
)
def test_long_desc_chunks(text: str, chunks: list[str]) -> None:
    assert cpt.long_desc_chunks(text, width=6) == chunks


def test_status_table_is_the_real_file(outer: zipfile.ZipFile) -> None:
    assert outer.read(cpt.OVERLAY_DIR + cpt.STATUS_NAME) == _real("pfs_status_codes_toad.csv")


def test_index_page_ranks_the_zip_first(world: tuple[Path, dict]) -> None:
    files, summary = world
    html = (files / disk_path(cpt.CPT_INDEX_URL)).read_text()
    assert summary["index_page"] == str(disk_path(cpt.CPT_INDEX_URL))
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert cpt.ZIP_HREF in hrefs and cpt.CPT_ZIP_URL.endswith(cpt.ZIP_HREF)

    def score(href: str) -> int:  # the contract's auto-discovery scoring
        low = href.lower()
        return 10 * ("pfrev" in low) + 2 * ("updated" in low) + ("/files/zip/" in low)

    zips = sorted((h for h in hrefs if h.lower().endswith(".zip")), key=score, reverse=True)
    assert len(zips) >= 3 and zips[0] == cpt.ZIP_HREF and score(zips[1]) < score(zips[0])
    assert any(h.endswith(".pdf") for h in hrefs)

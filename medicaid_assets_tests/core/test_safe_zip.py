"""Hostile and awkward archives: escapes, symlinks, bombs, nesting, trailing spaces."""

import stat
import zipfile
from pathlib import Path

import pytest

from medicaid_assets.core.safe_zip import UnsafeArchiveError, extract_zip


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_nested_zips_expand_in_place_and_trailing_spaces_are_trimmed(tmp_path: Path) -> None:
    inner = _zip(tmp_path / "inner.zip", {"PPRRVU.csv": b"a,b\n"})
    outer = _zip(tmp_path / "outer.zip", {"TOP/PFREV26AR_nonQP /PFALL.txt": b"x", "TOP/RVU26A.zip": inner.read_bytes()})
    report = extract_zip(outer, tmp_path / "out")
    assert (tmp_path / "out/TOP/PFREV26AR_nonQP/PFALL.txt").read_bytes() == b"x"
    assert (tmp_path / "out/TOP/RVU26A/PPRRVU.csv").read_bytes() == b"a,b\n"
    assert not (tmp_path / "out/TOP/RVU26A.zip").exists()
    assert report.nested == ["TOP/RVU26A.zip"] and len(report.files) == 2


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "C:/win.ini", "..\\x"])
def test_members_escaping_the_target_are_refused(tmp_path: Path, name: str) -> None:
    bad = _zip(tmp_path / "bad.zip", {"ok.txt": b"1", name: b"2"})
    target = tmp_path / "out"
    target.mkdir()
    (target / "previous.txt").write_text("kept")
    with pytest.raises(UnsafeArchiveError, match="escape the target"):
        extract_zip(bad, target)
    assert (target / "previous.txt").read_text() == "kept" and sorted(p.name for p in target.iterdir()) == [
        "previous.txt"
    ]
    assert not (tmp_path / "x").exists()


def test_symlink_members_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        extract_zip(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_size_bound_refuses_before_writing(tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.zip", {"zeros.bin": b"\0" * 5_000_000})
    assert bomb.stat().st_size < 50_000
    with pytest.raises(UnsafeArchiveError, match="expands to more than 1,000,000 bytes"):
        extract_zip(bomb, tmp_path / "out", max_bytes=1_000_000)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    data = _zip(tmp_path / "z0.zip", {"leaf.txt": b"x"}).read_bytes()
    for i in range(1, 7):
        data = _zip(tmp_path / f"z{i}.zip", {f"level{i}.zip": data}).read_bytes()
    with pytest.raises(UnsafeArchiveError, match="nested deeper"):
        extract_zip(tmp_path / "z6.zip", tmp_path / "out", max_depth=3)
    assert not (tmp_path / "out").exists()


def test_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    page = tmp_path / "page.zip"
    page.write_text("<html>error</html>")
    with pytest.raises(UnsafeArchiveError, match="not a zip file"):
        extract_zip(page, tmp_path / "out")

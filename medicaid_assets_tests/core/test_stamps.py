"""The one stamp API (core/stamps): changed input → not current, unchanged → current, crash mid-record → the
previous stamp intact, an output replaced behind the stamp's back → not current."""

import json
import os
from pathlib import Path

import pytest

from medicaid_assets.core import atomic
from medicaid_assets.core.stamps import FileStamp, Stamp, current_extraction, extraction_stamp, file_identity


def test_unchanged_source_is_current_and_a_changed_one_is_not(tmp_path: Path) -> None:
    stamp = Stamp(tmp_path / "out.stamp.json")
    assert stamp.current({"source": "a"}) is None
    assert stamp.record({"source": "a", "inputs": (1, 2)}, rows=3) == {"rows": 3}
    assert stamp.current({"source": "a", "inputs": (1, 2)}) == {"rows": 3}
    assert stamp.current({"source": "b", "inputs": (1, 2)}) is None
    assert stamp.kept() == {"rows": 3}


def test_a_stamp_vouches_for_its_output_file(tmp_path: Path) -> None:
    output = tmp_path / "out.parquet"
    output.write_bytes(b"one")
    stamp = Stamp.of_output(tmp_path, "out", output)
    stamp.record({"source": "s"})
    assert stamp.file == tmp_path / "cache" / "outputs" / "out.json"
    assert stamp.current({"source": "s"}) == {}
    output.write_bytes(b"other")  # replaced behind the stamp's back
    assert stamp.current({"source": "s"}) is None
    stamp.record({"source": "s"})
    output.unlink()
    assert stamp.current({"source": "s"}) is None


def test_file_stamp_follows_its_inputs(tmp_path: Path) -> None:
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("a")
    output.write_text("b")
    stamp = FileStamp.of(tmp_path, "out", output, [source])
    stamp.record(rows=1)
    assert stamp.recorded() == {"rows": 1}
    source.write_text("changed")
    assert stamp.recorded() is None
    stamp.record(rows=2)
    assert stamp.recorded() == {"rows": 2}
    source.unlink()
    assert stamp.recorded() is None


def test_sqlite_wal_counts_as_part_of_the_file(tmp_path: Path) -> None:
    db = tmp_path / "cache.sqlite"
    db.write_bytes(b"db")
    before = file_identity(db)
    (tmp_path / "cache.sqlite-wal").write_bytes(b"wal")
    assert file_identity(db) != before and file_identity(tmp_path / "missing") is None


def test_a_crash_while_recording_leaves_the_previous_stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = Stamp(tmp_path / "out.stamp.json")
    stamp.record({"source": "old"}, rows=1)

    class Crash(Exception):
        pass

    class CrashingOs:
        def __getattr__(self, name):
            return getattr(os, name)

        def replace(self, src, dst):
            raise Crash

    monkeypatch.setattr(atomic, "os", CrashingOs())
    with pytest.raises(Crash):
        stamp.record({"source": "new"}, rows=2)
    monkeypatch.undo()
    assert stamp.current({"source": "old"}) == {"rows": 1}
    assert stamp.current({"source": "new"}) is None
    assert [p.name for p in tmp_path.iterdir()] == ["out.stamp.json"]


def test_unreadable_or_old_stamps_are_not_current(tmp_path: Path) -> None:
    stamp = Stamp(tmp_path / "out.stamp.json")
    stamp.file.write_text("{not json")
    assert stamp.current({}) is None and stamp.kept() == {}
    stamp.file.write_text(json.dumps({"built_from": {}, "facts": {}}))  # no version: an old format, rebuilt once
    assert stamp.current({}) is None


def test_extraction_is_current_only_with_every_file_there(tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.csv").write_text("x")
    extraction_stamp(folder).record({"zip_sha256": "abc"}, files=["sub/a.csv"], bytes=1)
    assert extraction_stamp(folder).file == tmp_path / "bundle.extracted.json"
    assert current_extraction(folder, {"zip_sha256": "abc"}) == {"files": ["sub/a.csv"], "bytes": 1}
    assert current_extraction(folder, {"zip_sha256": "def"}) is None
    (folder / "sub" / "a.csv").unlink()
    assert current_extraction(folder, {"zip_sha256": "abc"}) is None

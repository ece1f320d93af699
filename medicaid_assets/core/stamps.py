"""Whether an output is current: the one stamp API.

A re-run with nothing new should rewrite nothing (contract §11), and rebuilding some outputs costs minutes at
real scale. So a writer records, in a small JSON stamp, what the output was built from — the identity of its
inputs: a file's size and mtime (:func:`file_identity`), a sha256, or any source digest such as a table's state
— and the next run asks whether that is still what it would build from (:meth:`Stamp.current`).

* A stamp may vouch for one output file: the output's own identity is recorded too, so an output replaced or
  removed since makes the stamp not current.
* A stamp is written atomically (temp file, fsync, rename): a crash while recording leaves the previous stamp.
* A stamp that differs only costs a rebuild, never a stale output; ``STAMP_VERSION`` is part of every stamp, so
  bumping it (or a caller's own version in ``built_from``) makes old stamps rebuild once.
* Stamps live beside the output (:meth:`Stamp.beside`, e.g. ``<zip stem>.extracted.json``) or in one folder
  (:meth:`Stamp.in_folder`, ``cache/outputs/<name>.json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medicaid_assets.core.atomic import atomic_write

STAMP_VERSION = 2  # 1: the former freshness files; bump when a stamp's meaning changes
EXTRACTED_SUFFIX = ".extracted.json"
OUTPUT_STAMPS = Path("cache") / "outputs"  # below the data directory: stamps of derived outputs, one place


def file_identity(path: Path) -> list[Any] | None:
    """``[size, mtime_ns]`` of ``path`` (None when missing); for a SQLite file, its ``-wal`` file's too (in WAL
    mode a write touches the ``-wal`` file or, once checkpointed, the database; a read touches neither)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    state: list[Any] = [st.st_size, st.st_mtime_ns]
    wal = path.with_name(path.name + "-wal")
    if wal.is_file():
        wst = wal.stat()
        state += [wst.st_size, wst.st_mtime_ns]
    return state


def files_identity(paths: Iterable[Path]) -> dict[str, list[Any] | None]:
    """:func:`file_identity` of each path, by path."""
    return {str(p): file_identity(p) for p in paths}


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object kept in ``path``; {} when missing or unreadable (a crash never leaves half of one)."""
    try:
        kept = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return kept if isinstance(kept, dict) else {}


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``payload`` atomically (readers see the old object or the new one)."""
    with atomic_write(path, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True)


@dataclass(frozen=True)
class Stamp:
    """What ``output`` (when given) was built from, kept in the JSON file ``file``."""

    file: Path
    output: Path | None = None

    @classmethod
    def beside(cls, output: Path, suffix: str = ".stamp.json", *, vouch: bool = True) -> Stamp:
        """``<output><suffix>`` next to the output; ``vouch``: the output's identity is part of the stamp."""
        return cls(output.with_name(output.name + suffix), output if vouch else None)

    @classmethod
    def in_folder(cls, folder: Path, name: str, output: Path | None = None) -> Stamp:
        return cls(folder / f"{name}.json", output)

    @classmethod
    def of_output(cls, root: Path, name: str, output: Path) -> Stamp:
        """The stamp of a derived output of the data directory ``root``: ``<root>/cache/outputs/<name>.json``."""
        return cls.in_folder(root / OUTPUT_STAMPS, name, output)

    def _identity(self) -> list[Any] | None:
        return file_identity(self.output) if self.output is not None else None

    def current(self, built_from: Mapping[str, Any]) -> dict[str, Any] | None:
        """The facts :meth:`record` kept, when the output was built from ``built_from`` (and, for a stamp that
        vouches for an output file, that file is still the one written then); else None."""
        kept = read_json(self.file)
        if kept.get("version") != STAMP_VERSION or kept.get("built_from") != _plain(built_from):
            return None
        if self.output is not None and (kept.get("output") is None or kept["output"] != self._identity()):
            return None
        facts = kept.get("facts")
        return facts if isinstance(facts, dict) else {}

    def kept(self) -> dict[str, Any]:
        """The facts of the last :meth:`record`, current or not ({} when none)."""
        facts = read_json(self.file).get("facts")
        return facts if isinstance(facts, dict) else {}

    def record(self, built_from: Mapping[str, Any], **facts: Any) -> dict[str, Any]:
        """Note that the output was just built from ``built_from`` (``facts``: what to tell later runs, e.g. its row
        count); returns ``facts``."""
        stamp = {"version": STAMP_VERSION, "built_from": built_from, "output": self._identity(), "facts": facts}
        write_json(self.file, stamp)
        return facts

    def clear(self) -> None:
        self.file.unlink(missing_ok=True)


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), so a fresh ``built_from`` compares equal."""
    return json.loads(json.dumps(value, sort_keys=True))


@dataclass(frozen=True)
class FileStamp:
    """An output built from input files (parquet hand-overs, SQLite caches): current while neither the inputs
    (size, mtime) nor the output changed since :meth:`record`. Kept in ``<root>/cache/outputs/<name>.json``."""

    stamp: Stamp
    inputs: Sequence[Path]

    @classmethod
    def of(cls, root: Path, name: str, output: Path, inputs: Sequence[Path]) -> FileStamp:
        return cls(Stamp.of_output(root, name, output), tuple(inputs))

    def _built_from(self) -> dict[str, Any]:
        return {"inputs": files_identity(self.inputs)}

    def recorded(self) -> dict[str, Any] | None:
        """What :meth:`record` kept, when the inputs and the output are all there and still as they were then."""
        built_from = self._built_from()
        if any(state is None for state in built_from["inputs"].values()):
            return None
        return self.stamp.current(built_from)

    def record(self, **facts: Any) -> None:
        """Note that the output was just written from the current inputs (``facts``: e.g. its row count)."""
        self.stamp.record(self._built_from(), **facts)


def extraction_stamp(folder: Path) -> Stamp:
    """The stamp of an archive's extraction into ``folder``: ``<folder>.extracted.json`` beside it."""
    return Stamp(folder.with_name(folder.name + EXTRACTED_SUFFIX))


def current_extraction(folder: Path, built_from: Mapping[str, Any]) -> dict[str, Any] | None:
    """The facts of ``folder``'s extraction when it was extracted from ``built_from`` and every file it listed
    (``facts["files"]``, relative paths) is still there; else None."""
    facts = extraction_stamp(folder).current(built_from)
    if facts is None or not folder.is_dir():
        return None
    return facts if all((folder / rel).is_file() for rel in facts.get("files", [])) else None

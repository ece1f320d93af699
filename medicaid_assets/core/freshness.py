"""Whether a derived file is current: it was written from inputs that have not changed since.

A re-run with nothing new should rewrite nothing (contract §11), and rewriting the NPI dataset alone costs
minutes at real scale. So a writer records, beside the caches (``cache/outputs/<name>.json``), what its
inputs were when it wrote (path, size, mtime of each, and of the output itself); the next run compares.

Inputs are files: parquet hand-overs (rewritten only when their content changes) and SQLite caches (in WAL
mode a write touches the ``-wal`` file or, once checkpointed, the database; a read touches neither). A stamp
that differs only costs a rewrite, never a stale output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medicaid_assets.core.atomic import atomic_write

STATE_VERSION = 1  # bump when a writer's output changes for the same inputs


def file_state(path: Path) -> list[Any] | None:
    """``[size, mtime_ns]`` of ``path`` (None when missing); for a SQLite file, its ``-wal`` file's too."""
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


@dataclass(frozen=True)
class Freshness:
    """The recorded state of one output against its inputs."""

    output: Path
    inputs: Sequence[Path]
    state_file: Path

    @classmethod
    def of(cls, root: Path, name: str, output: Path, inputs: Sequence[Path]) -> Freshness:
        return cls(output, tuple(inputs), root / "cache" / "outputs" / f"{name}.json")

    def _inputs(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "inputs": {str(p): file_state(p) for p in self.inputs}}

    def recorded(self) -> dict[str, Any] | None:
        """What :meth:`record` kept, when the inputs and the output are still as they were then."""
        try:
            kept = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if kept.get("sources") != self._inputs() or kept.get("output") != file_state(self.output):
            return None
        if any(state is None for state in kept["sources"]["inputs"].values()):
            return None
        return kept.get("facts", {})

    def record(self, **facts: Any) -> None:
        """Note that the output was just written from the current inputs (``facts``: e.g. its row count)."""
        kept = {"sources": self._inputs(), "output": file_state(self.output), "facts": facts}
        with atomic_write(self.state_file, "w", encoding="utf-8") as fh:
            json.dump(kept, fh, indent=2, sort_keys=True)

"""Write-then-rename, so a crash or a kill never leaves a half-written file under its final name."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def temp_path_for(path: Path) -> Path:
    """A temp name beside ``path`` (same folder, so the rename is atomic), unique per process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path; on success fsync it and rename it to ``path``; on error remove it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Open a temp file for writing; it replaces ``path`` only if the block finishes."""
    with atomic_path(path) as tmp, tmp.open(mode, **open_kwargs) as fh:
        yield fh

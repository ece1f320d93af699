"""Write-then-rename, so a crash or a kill never leaves a half-written file under its final name."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def temp_path_for(path: Path) -> Path:
    """A temp name beside ``path`` (same folder, so the rename is atomic), unique per process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path; on success fsync it and rename it to ``path``; on error remove it.

    Temps left by processes that were killed (a SIGKILL runs no ``finally``) are removed first. A full disk is an
    error that names ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_temps(path)
    tmp = temp_path_for(path)
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno in _FULL or any(text in str(exc) for text in ("No space left", "File too large", "quota")):
            reason = os.strerror(exc.errno) if exc.errno in _FULL else str(exc)
            raise OSError(exc.errno, f"{reason} while writing {path}; the previous file is left as it was") from exc
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def _remove_dead_temps(path: Path) -> None:
    """Remove ``.<name>.<pid>.tmp`` files beside ``path`` whose process no longer exists."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        pid = stale.name[len(path.name) + 2 : -len(".tmp")]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            stale.unlink(missing_ok=True)
        except PermissionError:
            pass


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Open a temp file for writing; it replaces ``path`` only if the block finishes."""
    with atomic_path(path) as tmp, tmp.open(mode, **open_kwargs) as fh:
        yield fh

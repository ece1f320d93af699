"""Write-then-rename, so a crash or a kill never leaves a half-written file (or folder) under its final name."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def temp_path_for(path: Path, *, per_call: bool = False) -> Path:
    """A temp name beside ``path`` (same folder, so the rename is atomic), unique per process (``per_call``: per
    call too). It starts with the process id, so :func:`remove_dead_temps` can tell a killed writer's temps."""
    unique = f"{os.getpid()}.{uuid.uuid4().hex}" if per_call else str(os.getpid())
    return path.with_name(f".{path.name}.{unique}.tmp")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path; on success fsync it and rename it to ``path``; on error remove it.

    Temps left by processes that were killed (a SIGKILL runs no ``finally``) are removed first. A full disk is an
    error that names ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temps(path)
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


def remove_dead_temps(path: Path) -> None:
    """Remove ``.<name>.<pid>[.<id>].tmp`` files beside ``path`` whose process no longer exists."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        pid = stale.name[len(path.name) + 2 : -len(".tmp")].split(".")[0]
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


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where not supported."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, f"{os.strerror(err)} while swapping {a} with {b}")


def swap_folder(partial: Path, target: Path) -> None:
    """Put the complete folder ``partial`` in place of ``target``, so a kill at any point leaves one of the two whole
    under ``target``: one atomic exchange where the kernel has it, else two renames that the next swap or
    :func:`recover_folder` undoes if a kill fell between them. The previous folder is removed after."""
    old = target.with_name(target.name + ".old")
    recover_folder(target)
    shutil.rmtree(old, ignore_errors=True)
    if not target.exists():
        os.replace(partial, target)
    elif _exchange(partial, target):
        shutil.rmtree(partial, ignore_errors=True)  # now the previous folder
        return
    else:
        target.rename(old)
        partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def recover_folder(target: Path) -> None:
    """Put back the previous ``target`` a kill left as ``<target>.old`` between :func:`swap_folder`'s renames."""
    old = target.with_name(target.name + ".old")
    if old.is_dir() and not target.exists():
        old.rename(target)

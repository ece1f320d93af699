"""Exclusive advisory file locks, so two processes never write the same download, extraction or data dir at once.

``flock(2)`` locks belong to the open file and vanish with the process, a SIGKILL included: a crash never leaves a
stale lock behind, and there is nothing to clean up. The lock file holds who took it (pid, command, since when),
for the message the next process shows. Where ``fcntl`` does not exist (Windows) the locks do nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class Busy(RuntimeError):
    """The lock is held by another process (``try_only``); the message says which and since when."""


def lock_path(path: Path) -> Path:
    """The lock file for ``path``: in a per-user folder of the temp dir, named after ``path``'s absolute form, so
    the data dir holds no lock files (and every process on this machine finds the same one)."""
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return Path(tempfile.gettempdir()) / f"medicaid-assets-locks-{os.getuid() if hasattr(os, 'getuid') else 0}" / key


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
        if text:
            return text
    return "another process"


@contextlib.contextmanager
def exclusive(
    path: Path,
    what: str = "",
    *,
    try_only: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the lock on ``path`` (the lock file itself; use :func:`lock_path` for one beside a file).

    ``try_only``: raise :class:`Busy` instead of waiting. ``on_wait`` is told once, before waiting, who holds it.
    """
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if try_only:
                raise Busy(holder) from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        note = f"pid {os.getpid()} on {socket.gethostname()}{f' ({what})' if what else ''}, since {stamp}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode(), 0)
        yield
    finally:
        os.close(fd)

"""Polling until something holds, failing with what was awaited when it never does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], what: str | Callable[[], str], *, timeout: float = 180, every: float = 0.05
) -> T:
    """``condition()`` every ``every`` seconds until it is truthy, and return it; after ``timeout`` s, fail
    with ``what`` (a callable is asked then, e.g. for the last state seen)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what() if callable(what) else what}")
        time.sleep(every)
    return value

"""The one retry policy for network calls (tenacity), used by downloads, page fetches, the object store and the
paced API engine.

A call is tried up to ``attempts`` times in all. Between tries it waits ``backoff_seconds × 2^(n-1)`` after the
n-th failure, at most ``max_wait_seconds`` — unless the failure carries a server's ``Retry-After`` (an exception
with a ``retry_after`` attribute that is not None), which is waited instead, capped the same way. Which failures
are worth another try is the caller's ``retryable`` predicate; any other exception propagates at once. When the
attempts run out the last exception is raised as it was (``reraise``), so callers word their own error message.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})  # HTTP answers worth asking again
MAX_WAIT_SECONDS = 60.0

Retryable = Callable[[BaseException], bool]


class RetryLater(Exception):
    """A failed attempt worth another try; ``retry_after`` is the server's hint in seconds, if it sent one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as integer seconds (the HTTP-date form is ignored, as the original did)."""
    value = (headers.get("retry-after") or "").strip()
    return float(value) if value.isdigit() else None


def is_retry_later(exc: BaseException) -> bool:
    return isinstance(exc, RetryLater)


class _WaitRetryAfter(wait_exponential):
    """The failure's ``retry_after`` when it has one (capped at ``max``), else exponential backoff."""

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hint = getattr(exc, "retry_after", None)
        if isinstance(hint, int | float):
            return min(float(hint), self.max)
        return super().__call__(retry_state)


def _policy(
    attempts: int, backoff_seconds: float, max_wait_seconds: float, retryable: Retryable, before_sleep: Any
) -> dict[str, Any]:
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    return {
        "stop": stop_after_attempt(attempts),
        "wait": _WaitRetryAfter(multiplier=backoff_seconds, max=max_wait_seconds),
        "retry": retry_if_exception(retryable),
        "reraise": True,
        "before_sleep": before_sleep,
    }


def retrying(
    *,
    attempts: int,
    backoff_seconds: float,
    retryable: Retryable = is_retry_later,
    max_wait_seconds: float = MAX_WAIT_SECONDS,
    sleep: Callable[[float], None] | None = None,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
    """The policy for synchronous code: ``retrying(...)(func, *args)`` calls ``func`` until it succeeds or gives up.
    ``sleep`` defaults to ``time.sleep`` looked up at call time."""
    return Retrying(
        sleep=sleep or (lambda seconds: time.sleep(seconds)),
        **_policy(attempts, backoff_seconds, max_wait_seconds, retryable, before_sleep),
    )


def async_retrying(
    *,
    attempts: int,
    backoff_seconds: float,
    sleep: Callable[[float], Awaitable[Any]],
    retryable: Retryable = is_retry_later,
    max_wait_seconds: float = MAX_WAIT_SECONDS,
) -> AsyncRetrying:
    """The same policy for coroutines; ``sleep`` may return early (e.g. on a stop request) and the next attempt
    then decides what to do."""
    return AsyncRetrying(sleep=sleep, **_policy(attempts, backoff_seconds, max_wait_seconds, retryable, None))

"""Paced, retrying, stoppable HTTP lookups: the engine under NPI and HCPCS resolution.

A resolution run may make a GET per identifier (up to ~1.8M) against public APIs that publish no limit,
so the engine has to be polite, survive a flaky network, lose nothing on a crash and stop cleanly:

* **Pacing** (original-pipeline-notes §1.7): a shared "next slot" spaces request *starts* by
  ``1 / requests_per_second`` (every attempt takes a slot, retries included) and ``concurrency``
  workers cap the requests in flight. Each :func:`run_fetch` call has its own limiter, so NPI and HCPCS
  lookups run side by side in two threads without slowing each other.
* **Retries per request** (the shared policy of :mod:`medicaid_assets.core.retry`): 429/500/502/503/504, transport errors (timeouts, dropped
  connections, bodies cut short) and 2xx bodies the caller's ``parse`` rejects with
  :class:`TransientError` (e.g. an HTML error page with status 200) are retried up to ``attempts``
  times, waiting ``Retry-After`` when the server sends integer seconds, else ``backoff_initial``
  doubling to ``backoff_max``. Any other status fails at once.
* **Rounds**: items still failing transiently are tried again after the round, in up to
  ``retry_rounds`` more rounds ``round_delay_seconds × 2^(round-1)`` apart, so an outage of a few
  minutes costs a pause rather than a run full of errors. A permanent failure (say HTTP 400) is not
  retried: it would get the same answer.
* **Results as they arrive**: each item's final result goes to ``on_result`` at once (on the calling
  thread), so callers commit caches incrementally and a crash loses only what is in flight.
* **Stopping**: once ``stop`` is set no request starts; requests in flight finish and are reported, an
  item interrupted between retries is reported with its last failure, and items never sent are
  returned as not attempted. ``max_new`` caps how many items are looked up at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import httpx

from medicaid_assets.core.retry import RETRYABLE_STATUS, async_retrying, retry_after_seconds

T = TypeVar("T")
R = TypeVar("R")

STOP_POLL_SECONDS = 0.05  # how quickly waits notice a stop request
PREVIEW_BYTES = 120


class TransientError(Exception):
    """Raised by a ``parse`` function for a 2xx answer that is unusable now but may be fine on a retry."""


@dataclass(frozen=True)
class ApiRequest:
    """One GET: ``url`` plus query ``params`` (merged into any query ``url`` already has)."""

    url: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and how persistently to ask one API (defaults: the original's)."""

    requests_per_second: float | None = 2.0  # None or <= 0: no spacing
    concurrency: int = 2
    attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    retry_rounds: int = 2
    round_delay_seconds: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    user_agent: str | None = None  # None: httpx's own
    max_response_bytes: int = 32 * 1024**2  # a body past this is refused unread (real answers are KBs)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.attempts < 1 or self.retry_rounds < 0:
            raise ValueError(f"need concurrency >= 1, attempts >= 1, retry_rounds >= 0: {self}")


@dataclass(frozen=True)
class CallInfo:
    """What was asked for an item, as a cache records it."""

    url: str  # the full request URL, query included
    params: dict[str, str]
    requested_at: float  # unix seconds at the start of the last attempt
    attempts: int  # requests sent for this item, all rounds together
    status_code: int | None  # of the last response; None after a transport error


@dataclass(frozen=True)
class FetchResult(Generic[T, R]):
    """The final word on one item: ``value`` from ``parse``, or ``error`` after retries."""

    item: T
    call: CallInfo
    value: R | None = None
    error: str | None = None
    retryable: bool = False  # the error was transient (a later run may well succeed)


@dataclass(frozen=True)
class FetchProgress:
    """Figures for a progress bar or a log line."""

    done: int
    total: int
    failed: int
    requests: int
    round: int
    elapsed_seconds: float
    finished: bool = False  # the last figures of this fetch (done, stopped or not): a log line must show them

    @property
    def rate(self) -> float:
        """Items finished per second."""
        return self.done / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate else None


@dataclass
class FetchReport(Generic[T]):
    """What a fetch did; ``not_attempted`` are the items never sent (stopped, or beyond ``max_new``)."""

    total: int
    succeeded: int = 0
    failed: int = 0
    not_attempted: list[T] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # HTTP status or transport error name -> count
    rounds: int = 0
    stopped: bool = False
    duration_seconds: float = 0.0

    def metadata(self) -> dict[str, object]:
        """Plain values for Dagster metadata and logs."""
        return {
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "not_attempted": len(self.not_attempted),
            "requests": self.requests,
            "retries": self.retries,
            "statuses": dict(self.statuses),
            "rounds": self.rounds,
            "stopped": self.stopped,
            "duration_seconds": round(self.duration_seconds, 3),
        }


def body_preview(body: bytes) -> str:
    """The first bytes of a body, for an error message that says what came back."""
    return repr(body[:PREVIEW_BYTES]) + (f" … ({len(body)} bytes)" if len(body) > PREVIEW_BYTES else "")


def run_fetch(
    items: Sequence[T],
    request: Callable[[T], ApiRequest],
    parse: Callable[[T, httpx.Response], R],
    on_result: Callable[[FetchResult[T, R]], None],
    *,
    policy: FetchPolicy | None = None,
    stop: threading.Event | None = None,
    max_new: int | None = None,
    progress: Callable[[FetchProgress], None] | None = None,
) -> FetchReport[T]:
    """Look up ``items``; each final result goes to ``on_result`` as it arrives.

    ``parse`` turns a 2xx response into a value (raise :class:`TransientError` to retry it). Runs its
    own event loop, so call it from synchronous code (any thread without a running loop); callbacks
    run on the calling thread and should be quick (a cache upsert, a progress bar update).
    """
    run = _Run(items, request, parse, on_result, policy or FetchPolicy(), stop or threading.Event(), progress)
    return asyncio.run(run.main(len(items) if max_new is None else max(0, min(max_new, len(items)))))


class _Failed(Exception):
    """A failed attempt; ``retryable`` when trying again may help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class _Stopped(Exception):
    """The stop event was set before the next request could start."""


async def _nap(seconds: float, stop: threading.Event) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when stopped."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, STOP_POLL_SECONDS))
    return True


class _Pacer:
    """The shared next slot: request starts at least ``1 / rps`` apart (like the original's Mutex<Instant>)."""

    def __init__(self, requests_per_second: float | None) -> None:
        self.interval = 1.0 / requests_per_second if requests_per_second and requests_per_second > 0 else 0.0
        self._next = 0.0

    async def wait(self, stop: threading.Event) -> bool:
        """Wait for a slot; False when ``stop`` is set (then no request may start)."""
        if self.interval:
            now = time.monotonic()
            start = max(now, self._next)  # one event loop thread: no lock needed around the reservation
            self._next = start + self.interval
            if await _nap(start - now, stop):
                return False
        return not stop.is_set()


@dataclass
class _Tries:
    """One item's attempts within a round (``earlier``: requests it had in earlier rounds)."""

    earlier: int
    sent: int = 0
    last: _Failed | None = None
    requested_at: float = 0.0
    status_code: int | None = None


class _Run(Generic[T, R]):
    def __init__(
        self,
        items: Sequence[T],
        request: Callable[[T], ApiRequest],
        parse: Callable[[T, httpx.Response], R],
        on_result: Callable[[FetchResult[T, R]], None],
        policy: FetchPolicy,
        stop: threading.Event,
        progress: Callable[[FetchProgress], None] | None,
    ) -> None:
        self.items, self.request, self.parse, self.on_result = items, request, parse, on_result
        self.policy, self.stop, self.progress = policy, stop, progress
        self.pacer = _Pacer(policy.requests_per_second)
        self.held: dict[int, FetchResult[T, R]] = {}  # transient failures waiting for the next round
        self.statuses: Counter[str] = Counter()
        self.total = self.done = self.failed = self.round = self.requests = self.retries = 0
        self.started = time.monotonic()

    async def main(self, cap: int) -> FetchReport[T]:
        p = self.policy
        self.total = cap
        todo = list(range(cap))
        leftover: list[int] = []
        # One client (one kept-alive connection) per worker: httpx's pool scans all its connections for each
        # request, which cost more CPU than the request itself at a few hundred lookups a second.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        timeout = httpx.Timeout(p.read_timeout, connect=p.connect_timeout)
        headers = {"User-Agent": p.user_agent} if p.user_agent else None
        tls = httpx.create_ssl_context()  # one for all clients: building one costs tens of milliseconds
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(
                        timeout=timeout, limits=limits, headers=headers, follow_redirects=True, verify=tls
                    )
                )
                for _ in range(p.concurrency)
            ]
            for number in range(1, p.retry_rounds + 2):
                if number > 1 and (not todo or await _nap(p.round_delay_seconds * 2 ** (number - 2), self.stop)):
                    break
                self.round = number
                self._emit()
                queue = deque(todo)
                last_round = number == p.retry_rounds + 1
                workers = [self._worker(clients[i], queue, last_round) for i in range(min(p.concurrency, len(queue)))]
                await asyncio.gather(*workers)
                leftover, todo = list(queue), sorted(self.held)
                if self.stop.is_set():
                    break
        never_sent = [i for i in leftover if i not in self.held] + list(range(cap, len(self.items)))
        for index in sorted(self.held):  # stopped before their next round: their last failure is final
            self._report(self.held.pop(index))
        self._emit(finished=True)
        return FetchReport(
            total=cap,
            succeeded=self.done - self.failed,
            failed=self.failed,
            not_attempted=[self.items[i] for i in never_sent],
            requests=self.requests,
            retries=self.retries,
            statuses=dict(sorted(self.statuses.items())),
            rounds=self.round,
            stopped=self.stop.is_set(),
            duration_seconds=time.monotonic() - self.started,
        )

    async def _worker(self, client: httpx.AsyncClient, queue: deque[int], last_round: bool) -> None:
        while queue and not self.stop.is_set():
            index = queue.popleft()
            result = await self._fetch(client, index)
            if result is None:  # stopped before sending anything this round
                queue.appendleft(index)
                return
            if result.error is not None and result.retryable and not last_round and not self.stop.is_set():
                self.held[index] = result
            else:
                self.held.pop(index, None)
                self._report(result)

    async def _fetch(self, client: httpx.AsyncClient, index: int) -> FetchResult[T, R] | None:
        item = self.items[index]
        api = self.request(item)
        request = client.build_request("GET", api.url, params=api.params)
        held = self.held.get(index)
        tries = _Tries(earlier=held.call.attempts if held else 0)
        retrying = async_retrying(  # the shared policy (core/retry); rounds and the stop are this engine's own
            attempts=self.policy.attempts,
            backoff_seconds=self.policy.backoff_initial,
            max_wait_seconds=self.policy.backoff_max,  # also caps a server's Retry-After
            retryable=lambda exc: isinstance(exc, _Failed) and exc.retryable,
            sleep=lambda seconds: _nap(seconds, self.stop),  # the next attempt then sees the stop
        )
        value: R | None = None
        failure: _Failed | None = None
        try:
            value = await retrying(self._attempt, client, request, item, tries)
        except _Stopped:
            if tries.last is None:
                return None
            failure = tries.last
        except _Failed as exc:
            failure = exc
        attempts = tries.earlier + tries.sent
        call = CallInfo(str(request.url), dict(api.params), tries.requested_at, attempts, tries.status_code)
        if failure is None:
            return FetchResult(item, call, value=value)
        gave_up = f" (gave up after {attempts} attempts)" if failure.retryable else ""
        return FetchResult(item, call, error=f"{failure}{gave_up}", retryable=failure.retryable)

    async def _attempt(self, client: httpx.AsyncClient, request: httpx.Request, item: T, tries: _Tries) -> R:
        if not await self.pacer.wait(self.stop):
            raise _Stopped
        tries.requested_at = time.time()
        if tries.earlier or tries.sent:
            self.retries += 1
        tries.sent += 1
        self.requests += 1
        try:
            return await self._send(client, request, item, tries)
        except _Failed as exc:
            tries.last = exc
            raise

    async def _receive(self, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        """The response with its body read, or :class:`_Failed` once the body passes ``max_response_bytes``."""
        limit = self.policy.max_response_bytes
        response = await client.send(request, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    self.statuses[str(response.status_code)] += 1
                    raise _Failed(
                        f"HTTP {response.status_code}: response body larger than {limit:,} bytes "
                        f"(max_response_bytes); refused unread",
                        retryable=False,
                    )
        finally:
            await response.aclose()
        skip = {"content-encoding", "content-length", "transfer-encoding"}  # the body is decoded already
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in skip]
        return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=request)

    async def _send(self, client: httpx.AsyncClient, request: httpx.Request, item: T, tries: _Tries) -> R:
        """One request: the parsed value, or :class:`_Failed` saying whether trying again may help."""
        try:
            response = await self._receive(client, request)
        except httpx.UnsupportedProtocol as exc:  # a redirect to file://, ftp://…: never followed, never retried
            self.statuses[type(exc).__name__] += 1
            tries.status_code = None
            raise _Failed(
                f"UnsupportedProtocol: {exc} (redirected away from http/https; refused)", retryable=False
            ) from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            self.statuses[type(exc).__name__] += 1
            tries.status_code = None
            raise _Failed(f"{type(exc).__name__}: {str(exc) or 'no detail'}", retryable=True) from exc
        status = tries.status_code = response.status_code
        self.statuses[str(status)] += 1
        if status in RETRYABLE_STATUS:
            retry_after = retry_after_seconds(response.headers)
            raise _Failed(f"HTTP {status}: {body_preview(response.content)}", retryable=True, retry_after=retry_after)
        if not response.is_success:
            raise _Failed(f"HTTP {status}: {body_preview(response.content)}", retryable=False)
        try:
            return self.parse(item, response)
        except TransientError as exc:
            raise _Failed(f"HTTP {status}: {exc}", retryable=True) from exc

    def _report(self, result: FetchResult[T, R]) -> None:
        self.done += 1
        self.failed += result.error is not None
        self.on_result(result)
        self._emit()

    def _emit(self, finished: bool = False) -> None:
        if self.progress is not None:
            self.progress(
                FetchProgress(
                    done=self.done,
                    total=self.total,
                    failed=self.failed,
                    requests=self.requests,
                    round=self.round,
                    elapsed_seconds=time.monotonic() - self.started,
                    finished=finished,
                )
            )

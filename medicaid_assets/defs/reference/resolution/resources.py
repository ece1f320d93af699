"""The two lookup APIs as Dagster resources: NPPES NPI Registry and NLM Clinical Tables HCPCS.

Each call runs the paced, retrying, stoppable engine of :mod:`medicaid_assets.core.fetcher` with this
resource's settings (its own limiter, so NPI and HCPCS lookups can run at once in two threads) and hands
every identifier's outcome to a callback as it arrives, with the request that produced it, so the
caller commits its cache incrementally. ``base_url`` has no default: definitions pass the configured
URL (the real API, or the sample world's emulator); nothing here reads the environment.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

import dagster as dg
import httpx

from medicaid_assets.core.fetcher import (
    ApiRequest,
    CallInfo,
    FetchPolicy,
    FetchProgress,
    FetchReport,
    FetchResult,
    TransientError,
    run_fetch,
)
from medicaid_assets.dagster_kit.resources.files import USER_AGENT
from medicaid_assets.defs.reference.resolution.clinical_tables import (
    HcpcsOutcome,
    answer_is_complete,
    batch_params,
    code_outcomes,
    load_answer,
    single_params,
)
from medicaid_assets.defs.reference.resolution.npi_registry import NpiOutcome, classify_npi_response, npi_request_params

Progress = Callable[[FetchProgress], None]


class ApiResource(dg.ConfigurableResource):
    """Pacing and retry settings shared by both APIs (defaults: the original's, see design §7)."""

    base_url: str
    requests_per_second: float = 2.0  # spacing of request starts; <= 0 means no spacing
    concurrency: int = 2  # requests in flight at most
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 30.0
    attempts: int = 5  # per request, on 429/5xx, transport errors and unusable 200 bodies
    retry_rounds: int = 2  # extra rounds over identifiers still failing
    round_delay_seconds: float = 30.0  # before round r: delay × 2^(r-2)
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 60.0  # also caps a server's Retry-After
    max_response_bytes: int = 32 * 1024**2  # a larger body is refused unread (an error, never cached)
    user_agent: str = USER_AGENT

    def policy(self) -> FetchPolicy:
        return FetchPolicy(
            requests_per_second=self.requests_per_second,
            concurrency=self.concurrency,
            attempts=self.attempts,
            backoff_initial=self.backoff_initial_seconds,
            backoff_max=self.backoff_max_seconds,
            retry_rounds=self.retry_rounds,
            round_delay_seconds=self.round_delay_seconds,
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            user_agent=self.user_agent,
            max_response_bytes=self.max_response_bytes,
        )


class NpiRegistryResource(ApiResource):
    """NPPES NPI Registry API v2.1: one ``GET {base_url}?version=2.1&number={npi}`` per NPI."""

    api_version: str = "2.1"

    def lookup(
        self,
        npis: Sequence[str],
        on_result: Callable[[NpiOutcome, CallInfo], None],
        *,
        stop: threading.Event | None = None,
        max_new: int | None = None,
        progress: Progress | None = None,
    ) -> FetchReport[str]:
        """Look up ``npis`` (already validated: an invalid NPI must not cost a request).

        ``on_result`` gets ``ok``/``not_found``, or ``error`` once retries and rounds are spent.
        """

        def request(npi: str) -> ApiRequest:
            return ApiRequest(self.base_url, npi_request_params(npi, self.api_version))

        def parse(npi: str, response: httpx.Response) -> NpiOutcome:
            outcome = classify_npi_response(npi, response.status_code, response.content)
            if outcome.status == "error":  # e.g. an HTML page with status 200: retry it
                raise TransientError(outcome.error_message)
            return outcome

        def deliver(result: FetchResult[str, NpiOutcome]) -> None:
            outcome = result.value or NpiOutcome(result.item, "error", error_message=result.error)
            on_result(outcome, result.call)

        return run_fetch(
            npis, request, parse, deliver, policy=self.policy(), stop=stop, max_new=max_new, progress=progress
        )


class ClinicalTablesResource(ApiResource):
    """NLM Clinical Tables HCPCS v3 search: codes asked in batches, one by one when a batch fails."""

    batch_size: int = 100

    def lookup(
        self,
        codes: Sequence[str],
        on_result: Callable[[HcpcsOutcome, CallInfo], None],
        *,
        stop: threading.Event | None = None,
        max_new: int | None = None,
        progress: Progress | None = None,
    ) -> FetchReport[str]:
        """Look up ``codes``; ``on_result`` gets ``ok`` (all records), ``absent`` or ``error`` per code.

        Codes go in batches of ``batch_size`` (the batch request; a batch of one uses the single
        request). Every code of a batch that still fails after retries and rounds is asked on its own,
        as are codes missing from an answer whose ``total`` says the page was cut short. ``max_new``
        counts codes; the report's counts are codes too (requests: both phases).
        """
        cap = len(codes) if max_new is None else max(0, min(max_new, len(codes)))
        return _CodeLookup(self, on_result, stop or threading.Event(), progress).run(
            list(codes[:cap]), list(codes[cap:])
        )


class _CodeLookup:
    """One :meth:`ClinicalTablesResource.lookup`: batches first, then single requests for what is left."""

    def __init__(
        self,
        api: ClinicalTablesResource,
        on_result: Callable[[HcpcsOutcome, CallInfo], None],
        stop: threading.Event,
        progress: Progress | None,
    ) -> None:
        self.api, self.on_result, self.stop, self.progress = api, on_result, stop, progress
        self.started = time.monotonic()
        self.total = self.done = self.failed = self.earlier_requests = 0
        self.retry_singly: list[str] = []
        self.batch_failures: dict[str, FetchResult[list[str], list]] = {}

    def run(self, todo: list[str], capped: list[str]) -> FetchReport[str]:
        self.total = len(todo)
        size = max(1, self.api.batch_size)
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        first = self._fetch(batches)
        self.earlier_requests = first.requests
        second = self._fetch([[code] for code in self.retry_singly]) if self.retry_singly else FetchReport(total=0)
        not_attempted = []
        for [code] in second.not_attempted:  # stopped: a code whose batch failed keeps that batch's error
            failure = self.batch_failures.get(code)
            if failure is None:
                not_attempted.append(code)
            else:
                self._deliver(HcpcsOutcome(code, "error", error_message=failure.error), failure.call)
        statuses = Counter(first.statuses) + Counter(second.statuses)
        return FetchReport(
            total=self.total,
            succeeded=self.done - self.failed,
            failed=self.failed,
            not_attempted=[code for batch in first.not_attempted for code in batch] + not_attempted + capped,
            requests=first.requests + second.requests,
            retries=first.retries + second.retries,
            statuses=dict(sorted(statuses.items())),
            rounds=max(first.rounds, second.rounds),
            stopped=self.stop.is_set(),
            duration_seconds=time.monotonic() - self.started,
        )

    def _fetch(self, batches: list[list[str]]) -> FetchReport[list[str]]:
        return run_fetch(
            batches,
            self._request,
            self._parse,
            self._handle,
            policy=self.api.policy(),
            stop=self.stop,
            progress=self._emit,
        )

    def _request(self, batch: list[str]) -> ApiRequest:
        return ApiRequest(self.api.base_url, single_params(batch[0]) if len(batch) == 1 else batch_params(batch))

    @staticmethod
    def _parse(batch: list[str], response: httpx.Response) -> list:
        return load_answer(response.content)  # MalformedAnswer is transient: retried

    def _handle(self, result: FetchResult[list[str], list]) -> None:
        batch = result.item
        if result.value is None:
            if len(batch) > 1:
                self.retry_singly.extend(batch)
                self.batch_failures.update(dict.fromkeys(batch, result))
                return
            [code] = batch
            earlier = self.batch_failures.get(code)
            message = f"{result.error}; batch request: {earlier.error}" if earlier else result.error
            self._deliver(HcpcsOutcome(code, "error", error_message=message), result.call)
            return
        complete = len(batch) == 1 or answer_is_complete(result.value)
        for code, outcome in code_outcomes(batch, result.value).items():
            if outcome.status == "absent" and not complete:
                self.retry_singly.append(code)  # the page was cut short: ask this code on its own
            else:
                self._deliver(outcome, result.call)

    def _deliver(self, outcome: HcpcsOutcome, call: CallInfo) -> None:
        self.done += 1
        self.failed += outcome.status == "error"
        self.on_result(outcome, call)

    def _emit(self, p: FetchProgress) -> None:
        if self.progress is not None:
            self.progress(
                FetchProgress(
                    done=self.done,
                    total=self.total,
                    failed=self.failed,
                    requests=self.earlier_requests + p.requests,
                    round=p.round,
                    elapsed_seconds=time.monotonic() - self.started,
                )
            )

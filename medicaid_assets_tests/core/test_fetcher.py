"""The fetch engine against the real sample-world server: pacing, concurrency, retries, rounds, stopping."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from itertools import pairwise

import httpx

from medicaid_assets.core.fetcher import (
    ApiRequest,
    FetchPolicy,
    FetchProgress,
    FetchReport,
    FetchResult,
    TransientError,
    retry_after_seconds,
    run_fetch,
)
from medicaid_assets.defs.reference.resolution.npi_registry import npi_request_params
from medicaid_assets.defs.reference.resolution.resources import ClinicalTablesResource, NpiRegistryResource
from medicaid_assets.sample_world.code_universe import code_universe
from medicaid_assets.sample_world.providers import npi_for_index
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets.settings import Settings
from medicaid_assets_tests.conftest import TEST_SPEC

NPIS = [npi_for_index(TEST_SPEC, i) for i in range(40)]
# Fast enough for tests, same shape as production: tiny backoffs and round delays, unlimited rate.
FAST = FetchPolicy(
    requests_per_second=None,
    concurrency=4,
    backoff_initial=0.01,
    backoff_max=2.0,
    round_delay_seconds=0.01,
    read_timeout=2.0,
)


def _parse(npi: str, response: httpx.Response) -> dict:
    try:
        return response.json()
    except ValueError as exc:
        raise TransientError(f"not JSON: {response.content[:40]!r}") from exc


def _fetch(settings: Settings, items: list[str], policy: FetchPolicy = FAST, **kwargs) -> tuple[FetchReport, list]:
    results: list[FetchResult] = []
    report = run_fetch(
        items,
        lambda npi: ApiRequest(settings.npi_api_url, npi_request_params(npi)),
        _parse,
        results.append,
        policy=policy,
        **kwargs,
    )
    return report, results


def _npi_log(world: WorldControl) -> list[dict]:
    return [e for e in world.requests() if e["api"] == "npi"]


def test_retry_after_parsing() -> None:
    assert retry_after_seconds(httpx.Headers({"Retry-After": "3"})) == 3.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) is None
    assert retry_after_seconds(httpx.Headers()) is None


def test_every_item_reported_once_with_its_call(world: WorldControl, settings: Settings) -> None:
    seen: list[FetchProgress] = []
    report, results = _fetch(settings, NPIS[:6], progress=seen.append)
    assert sorted(r.item for r in results) == sorted(NPIS[:6])
    assert all(r.error is None and r.value["result_count"] in (0, 1) for r in results)
    first = next(r for r in results if r.item == NPIS[0])
    assert first.call.url == f"{settings.npi_api_url}?version=2.1&number={NPIS[0]}"
    assert first.call.params == {"version": "2.1", "number": NPIS[0]}
    assert (first.call.attempts, first.call.status_code) == (1, 200)
    assert abs(first.call.requested_at - time.time()) < 30
    assert (report.total, report.succeeded, report.failed, report.requests, report.retries) == (6, 6, 0, 6, 0)
    assert report.statuses == {"200": 6} and report.rounds == 1 and not report.stopped and not report.not_attempted
    # The last figures come again, marked finished (a log line must show what a bar shows last).
    assert [p.done for p in seen] == [0, 1, 2, 3, 4, 5, 6, 6] and seen[-1].total == 6
    assert [p.finished for p in seen] == [False] * 7 + [True]
    assert report.metadata()["not_attempted"] == 0
    assert len(_npi_log(world)) == 6


def test_pacing_spaces_request_starts(world: WorldControl, settings: Settings) -> None:
    report, _ = _fetch(settings, NPIS[:10], replace(FAST, requests_per_second=5, concurrency=4))
    starts = [e["time"] for e in _npi_log(world)]
    assert report.duration_seconds >= 1.75  # ten starts 0.2 s apart: the last at 1.8 s
    assert starts[-1] - starts[0] >= 1.6
    assert min(b - a for a, b in pairwise(starts)) >= 0.1


def test_concurrency_caps_requests_in_flight(world: WorldControl, settings: Settings) -> None:
    """Every request is held 0.3 s by the server, so a third start within 0.3 s of the one two before
    would mean three in flight."""
    world.set_faults(rate=1.0, kinds=["slow"], slow_seconds=0.3)
    report, results = _fetch(settings, NPIS[:6], replace(FAST, concurrency=2))
    starts = sorted(e["time"] for e in _npi_log(world))
    assert len(starts) == 6 and all(r.error is None for r in results)
    assert min(b - a for a, b in zip(starts, starts[2:], strict=False)) >= 0.25
    assert report.duration_seconds >= 0.85  # three waves of two


def test_retry_after_is_honoured_then_attempts_run_out(world: WorldControl, settings: Settings) -> None:
    world.set_faults(rate=1.0, kinds=["429"])  # Retry-After: 1, while our own backoff would be 0.01 s
    report, results = _fetch(settings, NPIS[:2], replace(FAST, attempts=2, retry_rounds=0, concurrency=2))
    log = _npi_log(world)
    for npi in NPIS[:2]:
        times = [e["time"] for e in log if e["identifiers"] == npi]
        assert len(times) == 2 and times[1] - times[0] >= 0.95
    assert all(r.error.startswith("HTTP 429: b'Too Many Requests'") for r in results)
    assert all("gave up after 2 attempts" in r.error and r.retryable for r in results)
    assert all(r.call.status_code == 429 and r.call.attempts == 2 for r in results)
    assert (report.failed, report.requests, report.retries, report.statuses) == (2, 4, 2, {"429": 4})


def test_unusable_body_is_retried_then_reported(world: WorldControl, settings: Settings) -> None:
    world.set_faults(rate=1.0, kinds=["nonjson"])
    report, results = _fetch(settings, NPIS[:2], replace(FAST, attempts=3, retry_rounds=1))
    assert all("not JSON: b'<html>" in r.error and r.error.endswith("(gave up after 6 attempts)") for r in results)
    assert all(r.call.attempts == 6 and r.call.status_code == 200 for r in results)
    assert (report.requests, report.rounds, report.failed) == (12, 2, 2)


def test_other_statuses_fail_at_once(world: WorldControl, settings: Settings) -> None:
    results: list[FetchResult] = []
    report = run_fetch(
        ["x"], lambda _: ApiRequest(f"{settings.npi_api_url}missing", {}), _parse, results.append, policy=FAST
    )
    [result] = results
    assert result.error == "HTTP 404: b'Not Found'" and not result.retryable
    assert (report.requests, report.rounds) == (1, 1)


def test_round_retries_pick_up_failures(world: WorldControl, settings: Settings) -> None:
    world.set_faults(rate=1.0, kinds=["500"])

    def heal_in_round_two(p: FetchProgress) -> None:
        if p.round == 2 and p.done == 0:
            world.clear_faults()

    report, results = _fetch(settings, NPIS[:4], replace(FAST, attempts=2, retry_rounds=2), progress=heal_in_round_two)
    assert all(r.error is None for r in results) and len(results) == 4
    assert all(r.call.attempts == 3 for r in results)  # two in round one, one in round two
    assert (report.rounds, report.requests, report.statuses) == (2, 12, {"200": 4, "500": 8})


def test_stop_during_round_delay_reports_last_failures(world: WorldControl, settings: Settings) -> None:
    world.set_faults(rate=1.0, kinds=["503"])
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    report, results = _fetch(settings, NPIS[:3], replace(FAST, attempts=1, round_delay_seconds=30.0), stop=stop)
    assert report.duration_seconds < 3 and report.stopped and report.rounds == 1
    assert len(results) == 3 and all(r.error.startswith("HTTP 503") and r.retryable for r in results)
    assert not report.not_attempted


def test_stop_lets_in_flight_finish_and_starts_nothing_new(world: WorldControl, settings: Settings) -> None:
    stop = threading.Event()
    results: list[FetchResult] = []

    def on_result(result: FetchResult) -> None:
        results.append(result)
        if len(results) == 5:
            stop.set()

    report = run_fetch(
        NPIS[:20],
        lambda npi: ApiRequest(settings.npi_api_url, npi_request_params(npi)),
        _parse,
        on_result,
        policy=replace(FAST, requests_per_second=20, concurrency=2),
        stop=stop,
    )
    reported = [r.item for r in results]
    assert 5 <= len(reported) <= 6  # the fifth result stops it; the other request in flight finishes
    assert report.stopped and report.requests == len(reported)
    assert report.not_attempted == [n for n in NPIS[:20] if n not in reported]
    assert sorted(e["identifiers"] for e in _npi_log(world)) == sorted(reported)


def test_max_new_caps_lookups(world: WorldControl, settings: Settings) -> None:
    report, results = _fetch(settings, NPIS[:10], max_new=4)
    assert [r.item for r in sorted(results, key=lambda r: NPIS.index(r.item))] == NPIS[:4]
    assert report.not_attempted == NPIS[4:10] and report.requests == 4 and not report.stopped


def test_npi_and_hcpcs_lookups_run_at_once_with_their_own_limiters(world: WorldControl, settings: Settings) -> None:
    """Eight requests each at 5/s take 1.4 s apiece; together they finish well before 2.8 s."""
    paced = {"requests_per_second": 5.0, "concurrency": 2, "backoff_initial_seconds": 0.01}
    npi_api = NpiRegistryResource(base_url=settings.npi_api_url, **paced)
    hcpcs_api = ClinicalTablesResource(base_url=settings.hcpcs_api_url, batch_size=1, **paced)
    codes = [c.code for c in code_universe(TEST_SPEC)[:8]]
    reports: dict[str, FetchReport] = {}
    outcomes: dict[str, list] = {"npi": [], "hcpcs": []}
    threads = [
        threading.Thread(
            target=lambda: reports.setdefault("npi", npi_api.lookup(NPIS[:8], lambda o, c: outcomes["npi"].append(o)))
        ),
        threading.Thread(
            target=lambda: reports.setdefault(
                "hcpcs", hcpcs_api.lookup(codes, lambda o, c: outcomes["hcpcs"].append(o))
            )
        ),
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    elapsed = time.monotonic() - started
    assert reports["npi"].succeeded == 8 and reports["hcpcs"].succeeded == 8
    assert len(outcomes["npi"]) == len(outcomes["hcpcs"]) == 8
    assert 1.35 <= elapsed < 2.8  # one shared limiter would need 3.0 s for 16 starts
    apis = [e["api"] for e in world.requests()]
    assert apis.count("npi") == apis.count("hcpcs") == 8

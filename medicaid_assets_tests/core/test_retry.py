"""The one retry policy (core/retry): attempt counts, backoff, Retry-After, what is retried, and its users."""

import time
from pathlib import Path

import httpx
import pytest

from medicaid_assets.core.download import get_page
from medicaid_assets.core.retry import RetryLater, retry_after_seconds, retrying
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.sample_world.urls import local_url
from medicaid_assets.settings import DEFAULT_NPPES_FILES_PAGE_URL


class _Flaky:
    """Fails with ``errors`` in turn, then returns ``"ok"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors, self.calls = list(errors), 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_retries_until_success_with_doubling_backoff() -> None:
    slept: list[float] = []
    flaky = _Flaky(RetryLater("a"), RetryLater("b"), RetryLater("c"))
    assert retrying(attempts=5, backoff_seconds=0.5, sleep=slept.append)(flaky) == "ok"
    assert flaky.calls == 4 and slept == [0.5, 1.0, 2.0]


def test_backoff_is_capped_and_retry_after_wins_but_is_capped_too() -> None:
    slept: list[float] = []
    flaky = _Flaky(RetryLater("a"), RetryLater("b", retry_after=7), RetryLater("c", retry_after=100), RetryLater("d"))
    assert retrying(attempts=5, backoff_seconds=3, max_wait_seconds=10, sleep=slept.append)(flaky) == "ok"
    assert slept == [3, 7, 10, 10]


def test_gives_up_after_attempts_with_the_last_error() -> None:
    slept: list[float] = []
    flaky = _Flaky(RetryLater("first"), RetryLater("second"), RetryLater("third"))
    with pytest.raises(RetryLater, match="second"):
        retrying(attempts=2, backoff_seconds=0.1, sleep=slept.append)(flaky)
    assert flaky.calls == 2 and slept == [0.1]


def test_errors_the_predicate_rejects_are_not_retried() -> None:
    flaky = _Flaky(ValueError("bad request"))
    with pytest.raises(ValueError, match="bad request"):
        retrying(attempts=5, backoff_seconds=0.1, sleep=lambda _: pytest.fail("slept"))(flaky)
    assert flaky.calls == 1
    picky = _Flaky(KeyError("x"), KeyError("y"))
    assert retrying(attempts=3, backoff_seconds=0, retryable=lambda e: isinstance(e, KeyError))(picky) == "ok"


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        retrying(attempts=0, backoff_seconds=1)


def test_retry_after_header() -> None:
    assert retry_after_seconds(httpx.Headers({"Retry-After": " 3 "})) == 3.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


@pytest.fixture
def page_url(world_server: WorldServer) -> str:
    return local_url(world_server.base_url, DEFAULT_NPPES_FILES_PAGE_URL)


def _gets(world: WorldControl) -> int:
    return sum(1 for r in world.requests() if r["method"] == "GET" and r["api"] == "page")


def test_get_page_honours_retry_after_then_returns_the_last_answer(
    world: WorldControl, page_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    world.set_faults(rate=1.0, kinds=["429"], scope="files")  # the server sends Retry-After: 1
    with httpx.Client() as client:
        response = get_page(client, page_url, attempts=3, backoff_seconds=30)
    assert response.status_code == 429 and slept == [1.0, 1.0] and _gets(world) == 3


def test_get_page_backs_off_on_5xx_and_recovers(world: WorldControl, page_url: str, tmp_path: Path) -> None:
    world.set_faults(rate=1.0, kinds=["503"], scope="files")
    with httpx.Client() as client:
        started = time.monotonic()
        assert get_page(client, page_url, attempts=2, backoff_seconds=0.05).status_code == 503
        assert time.monotonic() - started >= 0.05 and _gets(world) == 2
        world.clear_faults()
        world.clear_requests()
        assert get_page(client, page_url, attempts=2, backoff_seconds=0.05).status_code == 200
    assert _gets(world) == 1


def test_get_page_raises_the_last_transport_error(world: WorldControl, page_url: str) -> None:
    world.set_faults(rate=1.0, kinds=["drop"], scope="files")
    with httpx.Client() as client, pytest.raises(httpx.TransportError):
        get_page(client, page_url, attempts=2, backoff_seconds=0.01)
    assert _gets(world) == 2

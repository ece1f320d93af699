"""NPI Registry requests and answers: every real sample, the emulator, and lookups over loopback HTTP."""

from __future__ import annotations

import json
import time

import pytest

from medicaid_assets.core.fetcher import CallInfo
from medicaid_assets.defs.reference.resolution.npi_registry import (
    NpiOutcome,
    classify_npi_response,
    npi_request_params,
    npi_request_url,
)
from medicaid_assets.defs.reference.resolution.resources import NpiRegistryResource
from medicaid_assets.sample_world.npi_api import npi_api_response
from medicaid_assets.sample_world.providers import current_provider, npi_for_index
from medicaid_assets.sample_world.server import FAULT_KINDS, WorldControl
from medicaid_assets.settings import Settings
from medicaid_assets_tests.conftest import REFERENCE, TEST_SPEC

NPI = "1720377294"


def _sample(name: str) -> bytes:
    return (REFERENCE / name).read_bytes()


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _indices(kind: str, n: int = 1) -> list[int]:
    """Registered indices whose provider is an individual (1), an organization (2) or deactivated (0)."""
    wanted = {"individual": 1, "organization": 2, "deactivated": 0}[kind]
    found = [i for i in TEST_SPEC.range_registered() if current_provider(TEST_SPEC, i).entity_type == wanted]
    return found[:n]


def test_request_shape() -> None:
    assert npi_request_params(NPI) == {"version": "2.1", "number": NPI}
    assert npi_request_url(NPI) == f"https://npiregistry.cms.hhs.gov/api/?version=2.1&number={NPI}"
    assert (
        npi_request_url(NPI, "http://127.0.0.1:9/x/api/", "2.2")
        == f"http://127.0.0.1:9/x/api/?version=2.2&number={NPI}"
    )


@pytest.mark.parametrize(
    ("name", "provider_name"),
    [
        ("nppes_api_v21_individual.json", "ELISE HIZA"),
        ("nppes_api_v21_organization.json", "CSP ANESTHESIA LLC"),
        ("nppes_api_v21_organization_2026_capture.json", "INOVA FAIRFAX HOSPITAL"),
        ("nppes_api_v21_search_two_results_foreign_address.json", "KELSEY SPRANG"),  # the first result wins
    ],
)
def test_real_samples_found(name: str, provider_name: str) -> None:
    body = _sample(name)
    payload = json.loads(body)
    first = payload["results"][0]
    outcome = classify_npi_response(NPI, 200, body)
    assert (outcome.status, outcome.provider_name, outcome.error_message) == ("ok", provider_name, None)
    assert outcome.response_json == body.decode() and outcome.payload == payload
    assert outcome.results == _compact(payload["results"])
    assert outcome.basic == _compact(first["basic"])
    assert outcome.addresses == _compact(first["addresses"])
    assert outcome.taxonomies == _compact(first["taxonomies"])
    assert outcome.identifiers == _compact(first["identifiers"])
    assert outcome.other_names == _compact(first["other_names"])
    assert outcome.practice_locations == (
        _compact(first["practiceLocations"]) if "practiceLocations" in first else None
    )
    # Only the 2026 capture has endpoints; the 2019 ones predate the key.
    assert outcome.endpoints == ("[]" if "2026" in name else None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nppes_api_v21_empty_result.json", "no results"),
        ("nppes_api_v21_errors_no_search_criteria.json", "API errors: generic: No valid search criteria provided"),
        (
            "nppes_api_v21_errors_enumeration_type_needs_criteria.json",
            "API errors: enumeration_type: enumeration_type requires additional search criteria",
        ),
    ],
)
def test_real_samples_not_found(name: str, message: str) -> None:
    outcome = classify_npi_response(NPI, 200, _sample(name))
    assert (outcome.status, outcome.provider_name, outcome.error_message) == ("not_found", None, message)
    assert outcome.response_json == _sample(name).decode() and outcome.basic is None
    assert outcome.payload == json.loads(_sample(name))


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, b"<html><body>Service temporarily unavailable</body></html>", "body is not JSON: b'<html><body>"),
        (200, b'{"result_count": 1, "resu', "body is not JSON: "),
        (200, b"\xff\xfe{}", "body is not JSON: "),
        (200, b"[1, 2]", "not an NPI Registry answer: b'[1, 2]'"),
        (200, b'{"results": "none"}', "not an NPI Registry answer"),
        (503, b"Service Unavailable", "HTTP 503: b'Service Unavailable'"),
    ],
)
def test_errors(status: int, body: bytes, message: str) -> None:
    outcome = classify_npi_response(NPI, status, body)
    assert outcome.status == "error" and outcome.error_message.startswith(message)
    assert outcome.response_json is outcome.payload is outcome.provider_name is None


def test_result_without_a_name_is_not_found_but_kept() -> None:
    body = b'{"result_count": 1, "results": [{"number": "1720377294", "basic": {"status": "A"}}]}'
    outcome = classify_npi_response(NPI, 200, body)
    assert (outcome.status, outcome.error_message, outcome.basic) == (
        "not_found",
        "first result has no name",
        '{"status":"A"}',
    )


def test_zero_result_count_is_not_found_whatever_follows() -> None:
    body = b'{"result_count": 0, "results": [{"basic": {"organization_name": "X"}}]}'
    assert classify_npi_response(NPI, 200, body).status == "not_found"


def test_person_without_first_name_uses_last_name() -> None:
    body = b'{"result_count": 1, "results": [{"basic": {"last_name": "HIZA", "first_name": ""}}]}'
    assert classify_npi_response(NPI, 200, body).provider_name == "HIZA"


@pytest.mark.parametrize("kind", ["individual", "organization"])
def test_emulator_answers_name_the_provider(kind: str) -> None:
    for index in _indices(kind, 5):
        provider = current_provider(TEST_SPEC, index)
        body = json.dumps(npi_api_response(TEST_SPEC, npi_request_params(provider.npi))).encode()
        outcome = classify_npi_response(provider.npi, 200, body)
        assert (outcome.status, outcome.provider_name) == ("ok", provider.display_name)
        assert json.loads(outcome.endpoints) == json.loads(body)["results"][0]["endpoints"]


def _lookup(api: NpiRegistryResource, npis: list[str]) -> dict[str, tuple[NpiOutcome, CallInfo]]:
    out: dict[str, tuple[NpiOutcome, CallInfo]] = {}
    api.lookup(npis, lambda outcome, call: out.setdefault(outcome.npi, (outcome, call)))
    return out


def _api(settings: Settings, **overrides: object) -> NpiRegistryResource:
    fast = {"requests_per_second": 0, "concurrency": 4, "backoff_initial_seconds": 0.01, "round_delay_seconds": 0.01}
    return NpiRegistryResource(base_url=settings.npi_api_url, **{**fast, **overrides})


def test_lookup_classifies_real_answers(world: WorldControl, settings: Settings) -> None:
    ok = [npi_for_index(TEST_SPEC, i) for i in [*_indices("individual", 2), *_indices("organization", 2)]]
    ok += [
        npi_for_index(TEST_SPEC, TEST_SPEC.range_weekly_new()[0]),
        npi_for_index(TEST_SPEC, TEST_SPEC.range_api_only()[0]),
    ]
    unknown = [npi_for_index(TEST_SPEC, i) for i in TEST_SPEC.range_unknown()]
    deactivated = [npi_for_index(TEST_SPEC, i) for i in _indices("deactivated", 2)]
    results = _lookup(_api(settings), [*ok, *unknown, *deactivated, "12345"])
    assert {npi for npi, (o, _) in results.items() if o.status == "ok"} == set(ok)
    assert {npi for npi, (o, _) in results.items() if o.status == "not_found"} == {*unknown, *deactivated, "12345"}
    assert results["12345"][0].error_message == "API errors: number: Field number requires 10 digits"
    outcome, call = results[ok[0]]
    assert call.url == npi_request_url(ok[0], settings.npi_api_url)
    assert call.params == {"version": "2.1", "number": ok[0]} and call.attempts == 1
    assert outcome.provider_name == current_provider(TEST_SPEC, _indices("individual")[0]).display_name


def test_lookup_recovers_from_mixed_faults_with_identical_results(world: WorldControl, settings: Settings) -> None:
    npis = [npi_for_index(TEST_SPEC, i) for i in range(30)]
    clean = _lookup(_api(settings), npis)
    world.clear_requests()
    world.set_faults(rate=0.2, kinds=FAULT_KINDS, slow_seconds=1.0, seed=7)
    faulty = _lookup(_api(settings, read_timeout_seconds=0.3, backoff_max_seconds=1.0), npis)
    assert {k: v[0] for k, v in faulty.items()} == {k: v[0] for k, v in clean.items()}
    sent = sum(call.attempts for _, call in faulty.values())
    deadline = time.monotonic() + 3
    while len(log := world.requests()) < sent and time.monotonic() < deadline:
        time.sleep(0.1)  # a slow request the client gave up on is logged when the server is done with it
    assert any(e["fault"] for e in log) and len(log) == sent > len(npis)


def test_lookup_reports_an_error_when_retries_run_out(world: WorldControl, settings: Settings) -> None:
    world.set_faults(rate=1.0, kinds=["nonjson"])
    npi = npi_for_index(TEST_SPEC, 1)
    [(outcome, call)] = _lookup(_api(settings, attempts=2, retry_rounds=1), [npi]).values()
    assert outcome.status == "error" and outcome.provider_name is None and call.attempts == 4
    assert outcome.error_message.startswith("HTTP 200: body is not JSON: b'<html>")
    assert outcome.error_message.endswith("(gave up after 4 attempts)")

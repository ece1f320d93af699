"""The NPI Registry emulator answers in the shapes of the real captures, over real loopback HTTP."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from medicaid_assets.sample_world.npi_api import npi_api_response
from medicaid_assets.sample_world.providers import current_provider, npi_for_index, weekly_bundles
from medicaid_assets.sample_world.server import NPI_PATH, WorldServer
from medicaid_assets.sample_world.spec import WorldSpec

SPEC = WorldSpec(seed=3, scale=0.0001)
REFERENCE = Path(__file__).parents[1] / "data" / "reference"
SAMPLES_2019 = (
    "nppes_api_v21_individual.json",
    "nppes_api_v21_organization.json",
    "nppes_api_v21_search_two_results_foreign_address.json",
)
CAPTURE_2026 = "nppes_api_v21_organization_2026_capture.json"
# Keys the API has (public clients and the bulk files' columns name them) but no capture shows, because
# the captured records have no such value or an empty list there.
UNSEEN_KEYS = {
    "$.results[].basic": {"name_suffix", "certification_date"},
    "$.results[].practiceLocations[]": {"fax_number"},
    "$.results[].other_names[]": {"organization_name", "type", "code"},
    "$.results[].endpoints[]": {
        "endpointType",
        "endpointTypeDescription",
        "endpoint",
        "endpointDescription",
        "affiliation",
        "affiliationName",
        "use",
        "useDescription",
        "contentType",
        "contentTypeDescription",
        "country_code",
        "country_name",
        "address_type",
        "address_1",
        "address_2",
        "city",
        "state",
        "postal_code",
    },
}


def _load(name: str) -> dict:
    return json.loads((REFERENCE / name).read_text())


def _walk(value: object, path: str, visit) -> None:
    visit(path, value)
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{path}.{key}", visit)
    elif isinstance(value, list):
        for item in value:
            _walk(item, f"{path}[]", visit)


def _real_shape() -> tuple[dict[str, set[str]], dict[str, type]]:
    """Keys seen per path in all captures, and value types per path (the 2026 capture's win)."""
    keys: dict[str, set[str]] = defaultdict(set)
    types: dict[str, type] = {}

    def visit(path: str, value: object) -> None:
        types[path] = type(value)
        if isinstance(value, dict):
            keys[path] |= set(value)

    for name in (*SAMPLES_2019, CAPTURE_2026):
        _walk(_load(name), "$", visit)
    return keys, types


REAL_KEYS, REAL_TYPES = _real_shape()


def assert_like_real(payload: dict) -> None:
    """Every key was seen (or is a documented unseen key) at its path, and every value has the real type.

    Paths no capture has a value for hold objects (list items of ``UNSEEN_KEYS``) or strings (every
    leaf of the API is a string but ``primary``).
    """
    problems: list[str] = []

    def visit(path: str, value: object) -> None:
        if isinstance(value, dict):
            extra = set(value) - REAL_KEYS.get(path, set()) - UNSEEN_KEYS.get(path, set())
            if extra:
                problems.append(f"{path}: unknown keys {sorted(extra)}")
        expected = REAL_TYPES.get(path, dict if path in UNSEEN_KEYS else str)
        if type(value) is not expected:
            problems.append(f"{path}: {type(value).__name__}, real is {expected.__name__}")

    _walk(payload, "$", visit)
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def npi_url(tmp_path_factory: pytest.TempPathFactory):
    world = tmp_path_factory.mktemp("world")
    (world / "world.json").write_text(json.dumps({"spec": {"seed": 3, "scale": 0.0001, "rows": None}}))
    (world / "files").mkdir()
    with WorldServer(world) as server:
        yield f"{server.base_url}{NPI_PATH}/"


def _get(npi_url: str, **params: str) -> dict:
    response = httpx.get(npi_url, params={"version": "2.1", **params}, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def _first(entity_type: int) -> str:
    index = next(i for i in SPEC.range_registered() if current_provider(SPEC, i).entity_type == entity_type)
    return npi_for_index(SPEC, index)


@pytest.mark.parametrize("entity_type", [1, 2])
def test_found_provider_has_the_real_shape(npi_url: str, entity_type: int) -> None:
    npi = _first(entity_type)
    body = _get(npi_url, number=npi)
    assert body["result_count"] == 1
    result = body["results"][0]
    assert result["number"] == npi
    assert result["enumeration_type"] == f"NPI-{entity_type}"
    assert_like_real(body)
    current = _load(CAPTURE_2026)["results"][0]
    assert set(result) == set(current)
    order_2019 = list(_load(SAMPLES_2019[entity_type - 1])["results"][0])
    assert [k for k in result if k in order_2019] == order_2019


def test_every_provider_of_the_world_has_the_real_shape() -> None:
    """Covers the rare shapes too: foreign addresses, endpoints, other names, many taxonomies."""
    indices = [*SPEC.range_registered(), *SPEC.range_weekly_new(), *SPEC.range_api_only()]
    seen = defaultdict(int)
    for index in indices:
        body = npi_api_response(SPEC, {"version": "2.1", "number": npi_for_index(SPEC, index)})
        if body["result_count"]:
            assert_like_real(body)
            result = body["results"][0]
            for key in ("endpoints", "other_names", "practiceLocations", "identifiers"):
                seen[key] += bool(result[key])
            seen["FGN"] += any(a["address_type"] == "FGN" for a in result["addresses"])
    assert all(seen[k] for k in ("endpoints", "other_names", "practiceLocations", "identifiers", "FGN")), seen


def test_current_conventions() -> None:
    org = npi_api_response(SPEC, {"version": "2.1", "number": _first(2)})["results"][0]
    person = npi_api_response(SPEC, {"version": "2.1", "number": _first(1)})["results"][0]
    assert org["created_epoch"].isdigit() and len(org["created_epoch"]) == 13
    assert {a["address_purpose"] for a in org["addresses"]} == {"MAILING", "LOCATION"}
    assert person["basic"]["name_prefix"] and person["basic"]["name_suffix"]
    assert person["basic"]["sole_proprietor"] in ("YES", "NO")
    for address in org["addresses"] + person["addresses"]:
        assert address.get("address_2", "x") != ""
        phone = address.get("telephone_number", "301-309-3781")
        assert len(phone) == 12 and phone[3] == phone[7] == "-"


def test_api_only_and_weekly_providers_are_found(npi_url: str) -> None:
    for index in (SPEC.range_api_only().start, SPEC.range_api_only()[-1], SPEC.range_weekly_new().start):
        body = _get(npi_url, number=npi_for_index(SPEC, index))
        assert body["result_count"] == 1
    changed = weekly_bundles(SPEC)[-1].changed[0]
    result = _get(npi_url, number=npi_for_index(SPEC, changed))["results"][0]
    after = current_provider(SPEC, changed)
    assert result["basic"].get("last_name", result["basic"].get("organization_name")) in (
        after.last_name,
        after.organization_name,
    )


def test_unknown_and_deactivated_npis_give_an_empty_result(npi_url: str) -> None:
    empty = _load("nppes_api_v21_empty_result.json")
    monthly_gone = next(i for i in SPEC.range_registered() if current_provider(SPEC, i).entity_type == 0)
    weekly_gone = weekly_bundles(SPEC)[0].deactivated[0]
    for index in (SPEC.range_unknown().start, monthly_gone, weekly_gone):
        assert _get(npi_url, number=npi_for_index(SPEC, index)) == empty
    assert _get(npi_url, number="1234567890") == empty  # bad check digit


def test_errors_envelopes(npi_url: str) -> None:
    assert _get(npi_url) == _load("nppes_api_v21_errors_no_search_criteria.json")
    assert _get(npi_url, number="") == _load("nppes_api_v21_errors_no_search_criteria.json")
    assert _get(npi_url, enumeration_type="NPI-1") == _load("nppes_api_v21_errors_enumeration_type_needs_criteria.json")
    for bad in ("123456789", "12345678901", "12345ABCDE"):
        errors = _get(npi_url, number=bad)["Errors"]
        assert errors[0]["field"] == "number" and set(errors[0]) == {"field", "number", "description"}
    no_version = httpx.get(npi_url, params={"number": _first(1)}, timeout=10).json()
    assert no_version["Errors"][0]["field"] == "version"


def test_enumeration_type_filters_a_number_lookup(npi_url: str) -> None:
    org = _first(2)
    assert _get(npi_url, number=org, enumeration_type="NPI-2")["result_count"] == 1
    assert _get(npi_url, number=org, enumeration_type="NPI-1")["result_count"] == 0

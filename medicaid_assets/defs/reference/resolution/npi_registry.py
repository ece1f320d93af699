"""NPPES NPI Registry API v2.1: the request for one NPI and what its answer means (pure).

The API answers HTTP 200 for nearly everything, so the body decides (original-pipeline-notes §1.5, §3a):
a first result with an organization name or a first/last name is ``ok``; ``result_count`` 0, an empty
``results`` or an ``{"Errors": […]}`` body is ``not_found``; anything else (another status, a body that
is not a JSON object) is ``error``, which the fetcher retries and a later run tries again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import httpx

from medicaid_assets.core.fetcher import body_preview
from medicaid_assets.settings import DEFAULT_NPI_API_URL

NpiStatus = Literal["ok", "not_found", "error"]

# Parts of ``results[0]`` the cache keeps in their own columns: attribute name -> API key.
SPLIT_FIELDS = {
    "basic": "basic",
    "addresses": "addresses",
    "practice_locations": "practiceLocations",
    "taxonomies": "taxonomies",
    "identifiers": "identifiers",
    "other_names": "other_names",
    "endpoints": "endpoints",
}


@dataclass(frozen=True)
class NpiOutcome:
    """One NPI's answer, with the JSON strings the cache stores (None where the answer has no such part)."""

    npi: str
    status: NpiStatus
    provider_name: str | None = None
    error_message: str | None = None
    response_json: str | None = None  # the body as received, when it was JSON
    payload: dict | None = None  # the same, decoded (so a cache writer need not parse it again)
    results: str | None = None
    basic: str | None = None
    addresses: str | None = None
    practice_locations: str | None = None
    taxonomies: str | None = None
    identifiers: str | None = None
    other_names: str | None = None
    endpoints: str | None = None


def npi_request_params(npi: str, version: str = "2.1") -> dict[str, str]:
    """Query of a lookup by number, in the order the original sent it."""
    return {"version": version, "number": npi}


def npi_request_url(npi: str, base_url: str = DEFAULT_NPI_API_URL, version: str = "2.1") -> str:
    """The request URL as sent, e.g. ``https://npiregistry.cms.hhs.gov/api/?version=2.1&number=…``."""
    return str(httpx.URL(base_url).copy_merge_params(npi_request_params(npi, version)))


def _json(value: object) -> str:
    """Compact JSON, as the original's serde_json wrote the cache columns."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def provider_name(basic: dict) -> str | None:
    """Organization name, else ``first last``, else whichever exists; None when there is no name."""
    org = str(basic.get("organization_name") or "").strip()
    if org:
        return org
    person = " ".join(p for p in (str(basic.get(k) or "").strip() for k in ("first_name", "last_name")) if p)
    return person or None


def classify_npi_response(npi: str, status_code: int, body: bytes) -> NpiOutcome:
    """What one answer says about ``npi``."""
    if status_code != 200:
        return NpiOutcome(npi, "error", error_message=f"HTTP {status_code}: {body_preview(body)}")
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
        return NpiOutcome(npi, "error", error_message=f"body is not JSON: {body_preview(body)}")
    except RecursionError:  # e.g. [[[[…]]]] nested past the parser's depth
        return NpiOutcome(
            npi, "error", error_message=f"body is not JSON we accept (nested too deep): {body_preview(body)}"
        )
    results = payload.get("results", []) if isinstance(payload, dict) else None
    if not isinstance(results, list):
        return NpiOutcome(npi, "error", error_message=f"not an NPI Registry answer: {body_preview(body)}")
    if "Errors" in payload:
        errors = payload["Errors"] if isinstance(payload["Errors"], list) else [payload["Errors"]]
        described = "; ".join(
            f"{e.get('field', '?')}: {e.get('description', '')}" if isinstance(e, dict) else str(e) for e in errors
        )
        return NpiOutcome(
            npi, "not_found", error_message=f"API errors: {described}", response_json=text, payload=payload
        )
    first = results[0] if results and payload.get("result_count") != 0 else None
    if not isinstance(first, dict):
        return NpiOutcome(
            npi, "not_found", error_message="no results", response_json=text, payload=payload, results=_json(results)
        )
    basic = first.get("basic")
    name = provider_name(basic if isinstance(basic, dict) else {})
    return NpiOutcome(
        npi,
        "ok" if name else "not_found",
        provider_name=name,
        error_message=None if name else "first result has no name",
        response_json=text,
        payload=payload,
        results=_json(results),
        **{attr: _json(first[key]) if key in first else None for attr, key in SPLIT_FIELDS.items()},
    )

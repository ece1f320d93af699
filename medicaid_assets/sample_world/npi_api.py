"""Answers of the NPPES NPI Registry API v2.1 emulator, in the real API's shapes.

Shapes follow the captures in ``medicaid_assets_tests/data/reference/nppes_api_v21_*.json``: key order
as the raw 2019 captures show it, value conventions as the 2026 capture shows them (string ``number``,
epoch milliseconds as strings, ``endpoints``, ``taxonomy_group: ""``, ``"--"`` for empty name prefixes
and suffixes, empty ``address_2``/phone/fax left out, no ``basic.name``). Only lookups by ``number`` are
emulated, because that is all the pipeline asks.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, time, timedelta

from medicaid_assets.sample_world.providers import (
    TAXONOMY_DESCS,
    Address,
    Endpoint,
    Provider,
    current_provider,
    index_for_npi,
)
from medicaid_assets.sample_world.spec import WorldSpec

# Exact bodies of the real captures (nppes_api_v21_errors_*.json).
NO_SEARCH_CRITERIA = {
    "Errors": [{"field": "generic", "number": "04", "description": "No valid search criteria provided"}]
}
ENUMERATION_TYPE_NEEDS_CRITERIA = {
    "Errors": [
        {
            "field": "enumeration_type",
            "number": "09",
            "description": "enumeration_type requires additional search criteria",
        }
    ]
}
# Our assumptions: no real capture of these two errors exists (original-pipeline-notes §3a).
UNSUPPORTED_VERSION = {
    "Errors": [{"field": "version", "number": "01", "description": "Unsupported version, use version=2.1"}]
}
MALFORMED_NUMBER = {"Errors": [{"field": "number", "number": "02", "description": "Field number requires 10 digits"}]}

# Parameters that count as search criteria; version, limit, skip, pretty and the purpose/alias
# modifiers do not, and enumeration_type alone is an error of its own.
CRITERIA = (
    "number",
    "taxonomy_description",
    "first_name",
    "last_name",
    "organization_name",
    "city",
    "state",
    "postal_code",
    "country_code",
)
ENUMERATION_TYPES = {1: "NPI-1", 2: "NPI-2"}
COUNTRY_NAMES = {"US": "United States", "CA": "Canada", "MX": "Mexico", "GB": "United Kingdom"}
IDENTIFIER_DESCS = {
    "01": "Other (non-Medicare)",
    "02": "MEDICARE UPIN",
    "04": "MEDICARE ID-Type Unspecified",
    "05": "MEDICAID",
}
OTHER_NAME_TYPES = {"3": "Doing Business As", "4": "Former Legal Business Name", "5": "Other Name"}
CONTENT_TYPE_DESCS = {"CSV": "CSV", "FHIR": "FHIR", "OTHER": "Other"}


def _iso(day: date) -> str:
    return day.isoformat()


def _epoch_ms(day: date, npi: str) -> str:
    """Epoch milliseconds as a string, at a fixed afternoon time (UTC) derived from the NPI.

    Real epochs carry a time of day; keeping it between 12:00 and 22:00 UTC keeps the date equal to
    the ISO date in every US time zone.
    """
    moment = datetime.combine(day, time(12), tzinfo=UTC) + timedelta(seconds=int(npi) % 36_000)
    return str(int(moment.timestamp()) * 1000)


def _phone(digits: str) -> str:
    """``3013093781`` → ``301-309-3781``, as the API formats address phones."""
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}" if len(digits) == 10 else digits


def _yes_no(flag: str) -> str:
    """NPPES ``Y``/``N``/``X`` (X = not answered) → ``YES``/``NO``."""
    return "YES" if flag == "Y" else "NO"


def _place(a: Address) -> dict[str, str]:
    """Country and type of an address: ``DOM`` for US addresses, else ``FGN``."""
    return {
        "country_code": a.country,
        "country_name": COUNTRY_NAMES.get(a.country, f"Unknown Country Name for {a.country}"),
        "address_type": "DOM" if a.country == "US" else "FGN",
    }


def _lines(a: Address) -> dict[str, str]:
    return {"address_1": a.line1} | ({"address_2": a.line2} if a.line2 else {})


def _phones(a: Address) -> dict[str, str]:
    out = {"telephone_number": _phone(a.phone)} if a.phone else {}
    return out | ({"fax_number": _phone(a.fax)} if a.fax else {})


def _address(a: Address, purpose: str) -> dict[str, str]:
    place = _place(a)
    return {
        "country_code": place["country_code"],
        "country_name": place["country_name"],
        "address_purpose": purpose,
        "address_type": place["address_type"],
        **_lines(a),
        "city": a.city,
        "state": a.state,
        "postal_code": a.postal_code,
        **_phones(a),
    }


def _practice_location(a: Address, p: Provider) -> dict[str, str]:
    place = _place(a)
    stamp = f"{p.last_update:%Y-%m-%d} {int(p.npi) % 24:02d}:{int(p.npi) % 60:02d}"
    return {
        "address_type": place["address_type"],
        **_lines(a),
        "city": a.city,
        "state": a.state,
        "postal_code": a.postal_code,
        "country_code": place["country_code"],
        "country_name": place["country_name"],
        **_phones(a),
        "update_date": stamp,
    }


def _dates(p: Provider) -> dict[str, str]:
    out = {"enumeration_date": _iso(p.enumeration_date), "last_updated": _iso(p.last_update)}
    if p.certification_date:
        out["certification_date"] = _iso(p.certification_date)
    return out | {"status": "A"}


def _nonempty(**fields: str) -> dict[str, str]:
    """The real API leaves out empty name parts and credentials (prefix/suffix aside: ``"--"``)."""
    return {k: v for k, v in fields.items() if v}


def _basic(p: Provider) -> dict[str, str]:
    if p.entity_type == 2:
        return {
            "organization_name": p.organization_name,
            "organizational_subpart": _yes_no(p.organization_subpart),
            **_dates(p),
            **_nonempty(authorized_official_credential=p.official_credential),
            "authorized_official_first_name": p.official_first,
            "authorized_official_last_name": p.official_last,
            **_nonempty(authorized_official_middle_name=p.official_middle),
            "authorized_official_name_prefix": p.official_prefix or "--",
            "authorized_official_name_suffix": p.official_suffix or "--",
            # Unformatted digits, unlike address phones (2026 capture).
            "authorized_official_telephone_number": p.official_phone,
            "authorized_official_title_or_position": p.official_title,
        }
    return {
        "name_prefix": p.prefix or "--",
        "first_name": p.first_name,
        "last_name": p.last_name,
        **_nonempty(middle_name=p.middle_name),
        "name_suffix": p.suffix or "--",
        **_nonempty(credential=p.credential),
        "sole_proprietor": _yes_no(p.sole_proprietor),
        "gender": p.sex,
        **_dates(p),
    }


def _endpoint(e: Endpoint) -> dict[str, str]:
    """One endpoint. Field names follow public API clients; no captured sample has a non-empty list."""
    place = _place(e.address)
    return {
        "endpointType": e.type,
        "endpointTypeDescription": e.type_description,
        "endpoint": e.endpoint,
        **_nonempty(endpointDescription=e.description),
        "affiliation": e.affiliation,
        **_nonempty(affiliationName=e.affiliation_name),
        "use": e.use_code,
        "useDescription": e.use_description,
        "contentType": e.content_type,
        "contentTypeDescription": e.content_description or CONTENT_TYPE_DESCS[e.content_type],
        "country_code": place["country_code"],
        "country_name": place["country_name"],
        "address_type": place["address_type"],
        **_lines(e.address),
        "city": e.address.city,
        "state": e.address.state,
        "postal_code": e.address.postal_code,
    }


def npi_api_result(p: Provider) -> dict:
    """One API v2.1 result for an active provider (``entity_type`` 1 or 2)."""
    return {
        "enumeration_type": ENUMERATION_TYPES[p.entity_type],
        "number": p.npi,
        "last_updated_epoch": _epoch_ms(p.last_update, p.npi),
        "created_epoch": _epoch_ms(p.enumeration_date, p.npi),
        "basic": _basic(p),
        "other_names": [
            {"organization_name": name, "type": OTHER_NAME_TYPES[code], "code": code}
            for name, code in p.other_org_names
        ],
        "addresses": [_address(p.mailing, "MAILING"), _address(p.location, "LOCATION")],
        "taxonomies": [
            {
                "code": t.code,
                "desc": TAXONOMY_DESCS[t.code],
                "primary": t.primary,
                "state": t.license_state,
                "license": t.license,
                "taxonomy_group": t.group,
            }
            for t in p.taxonomies
        ],
        "identifiers": [
            {
                "identifier": i.identifier,
                "code": i.type_code,
                "desc": IDENTIFIER_DESCS[i.type_code],
                "state": i.state,
                "issuer": i.issuer,
            }
            for i in p.identifiers
        ],
        "practiceLocations": [_practice_location(a, p) for a in p.practice_locations],
        "endpoints": [_endpoint(e) for e in p.endpoints],
    }


def npi_api_response(spec: WorldSpec, query: dict[str, str]) -> dict:
    """The body ``GET /api/?<query>`` returns (always HTTP 200, as the real API answers errors too).

    Searches by name or address are not emulated: they answer an empty result.
    """
    if query.get("version", "").strip() != "2.1":
        return copy.deepcopy(UNSUPPORTED_VERSION)
    criteria = {k: query[k].strip() for k in CRITERIA if query.get(k, "").strip()}
    wanted = query.get("enumeration_type", "").strip().upper()
    if not criteria:
        return copy.deepcopy(ENUMERATION_TYPE_NEEDS_CRITERIA if wanted else NO_SEARCH_CRITERIA)
    number = criteria.get("number", "")
    if number and (len(number) != 10 or not number.isdigit()):
        return copy.deepcopy(MALFORMED_NUMBER)
    index = index_for_npi(spec, number)
    p = current_provider(spec, index) if index is not None else None
    if p is None or p.entity_type == 0 or (wanted and wanted != ENUMERATION_TYPES[p.entity_type]):
        return {"result_count": 0, "results": []}
    return {"result_count": 1, "results": [npi_api_result(p)]}

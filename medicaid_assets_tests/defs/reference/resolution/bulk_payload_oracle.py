"""The Python builder of bulk payloads that ``lib/bulk_payload.bulk_dataset_sql`` replaced: the tests' oracle.

Independent of the query (dicts encoded by ``json``), it states the payload rules one field at a time; the
equality tests hold the query's text to it byte for byte. Input: one bulk row (the bulk-rows parquet's columns,
as pyarrow's ``to_pylist`` gives them) and its side-table rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from medicaid_assets.defs.reference.resolution.bulk_payload import (
    COUNTRY_NAMES,
    ENUMERATION_TYPES,
    IDENTIFIER_TYPES,
    OTHER_NAME_TYPES,
    TAXONOMY_DESCS,
    bulk_request_params,
    bulk_url,
)
from medicaid_assets.defs.reference.resolution.npi_cache import to_json


def _s(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _nonempty(**fields: Any) -> dict[str, str]:
    """The API leaves out empty name parts, credentials, second lines and phones."""
    return {k: _s(v) for k, v in fields.items() if _s(v)}


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def _epoch_ms(day: date) -> str:
    return str(int(datetime.combine(day, time(), tzinfo=UTC).timestamp()) * 1000)


def _yes_no(flag: Any) -> str:
    """NPPES ``Y``/``N``/``X`` (X = not answered) → ``YES``/``NO``."""
    return "YES" if _s(flag) == "Y" else "NO"


def format_phone(value: Any) -> str:
    """``3013093781`` → ``301-309-3781`` as the API shows address phones; anything else unchanged."""
    digits = _s(value)
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}" if len(digits) == 10 and digits.isdigit() else digits


def provider_name(row: Mapping[str, Any]) -> str | None:
    """Organization name, else ``first last`` (the mapping's rule, as ``provider_select_sql`` computes it)."""
    person = " ".join(p for p in (_s(row.get("first_name")), _s(row.get("last_name"))) if p)
    return _s(row.get("organization_name")) or person or None


def _place(country: Any, country_names: Mapping[str, str]) -> dict[str, str]:
    code = _s(country) or "US"
    return {
        "country_code": code,
        "country_name": country_names.get(code, ""),
        "address_type": "DOM" if code == "US" else "FGN",
    }


def _phones(phone: Any, fax: Any) -> dict[str, str]:
    return _nonempty(telephone_number=format_phone(phone), fax_number=format_phone(fax))


def _address(row: Mapping[str, Any], prefix: str, purpose: str, country_names: Mapping[str, str]) -> dict | None:
    def get(name: str) -> Any:
        return row.get(f"{prefix}_{name}")

    if not any(_s(get(n)) for n in ("address_line1", "city", "state", "postal_code")):
        return None
    place = _place(get("country"), country_names)
    return {
        "country_code": place["country_code"],
        "country_name": place["country_name"],
        "address_purpose": purpose,
        "address_type": place["address_type"],
        "address_1": _s(get("address_line1")),
        **_nonempty(address_2=get("address_line2")),
        "city": _s(get("city")),
        "state": _s(get("state")),
        "postal_code": _s(get("postal_code")),
        **_phones(get("phone"), get("fax")),
    }


def _practice_location(pl: Mapping[str, Any], country_names: Mapping[str, str]) -> dict[str, str]:
    place = _place(pl.get("country"), country_names)
    return {
        "address_type": place["address_type"],
        "address_1": _s(pl.get("address_line1")),
        **_nonempty(address_2=pl.get("address_line2")),
        "city": _s(pl.get("city")),
        "state": _s(pl.get("state")),
        "postal_code": _s(pl.get("postal_code")),
        "country_code": place["country_code"],
        "country_name": place["country_name"],
        **_phones(pl.get("phone"), pl.get("fax")),
        **_nonempty(telephone_extension=pl.get("phone_extension")),
    }


def _endpoint(e: Mapping[str, Any], country_names: Mapping[str, str]) -> dict[str, str]:
    place = _place(e.get("affiliation_address_country"), country_names)
    return {
        "endpointType": _s(e.get("endpoint_type")),
        "endpointTypeDescription": _s(e.get("endpoint_type_description")),
        "endpoint": _s(e.get("endpoint")),
        **_nonempty(endpointDescription=e.get("endpoint_description")),
        "affiliation": _s(e.get("affiliation")),
        **_nonempty(affiliationName=e.get("affiliation_legal_business_name")),
        "use": _s(e.get("use_code")),
        "useDescription": _s(e.get("use_description")),
        **_nonempty(useOtherDescription=e.get("other_use_description")),
        "contentType": _s(e.get("content_type")),
        "contentTypeDescription": _s(e.get("content_description")),
        **_nonempty(contentOtherDescription=e.get("other_content_description")),
        **place,
        "address_1": _s(e.get("affiliation_address_line1")),
        **_nonempty(address_2=e.get("affiliation_address_line2")),
        "city": _s(e.get("affiliation_address_city")),
        "state": _s(e.get("affiliation_address_state")),
        "postal_code": _s(e.get("affiliation_address_postal_code")),
    }


def _dates(row: Mapping[str, Any]) -> dict[str, str]:
    out = _nonempty(
        enumeration_date=_iso(row.get("enumeration_date")),
        last_updated=_iso(row.get("last_update_date")),
        certification_date=_iso(row.get("certification_date")),
    )
    if _s(row.get("status")) == "D":
        out["deactivation_date"] = _iso(row.get("deactivation_date"))
    return out | {"status": _s(row.get("status")) or "A"}


def _basic(row: Mapping[str, Any]) -> dict[str, str]:
    entity = _s(row.get("entity_type"))
    if entity == "2":
        return {
            "organization_name": _s(row.get("organization_name")),
            "organizational_subpart": _yes_no(row.get("organization_subpart")),
            **_dates(row),
            **_nonempty(authorized_official_credential=row.get("official_credential")),
            "authorized_official_first_name": _s(row.get("official_first_name")),
            "authorized_official_last_name": _s(row.get("official_last_name")),
            **_nonempty(authorized_official_middle_name=row.get("official_middle_name")),
            "authorized_official_name_prefix": _s(row.get("official_name_prefix")) or "--",
            "authorized_official_name_suffix": _s(row.get("official_name_suffix")) or "--",
            # Unformatted digits, unlike address phones (2026 capture).
            "authorized_official_telephone_number": _s(row.get("official_phone")),
            "authorized_official_title_or_position": _s(row.get("official_title")),
        }
    if entity == "1":
        return {
            "name_prefix": _s(row.get("name_prefix")) or "--",
            "first_name": _s(row.get("first_name")),
            "last_name": _s(row.get("last_name")),
            **_nonempty(middle_name=row.get("middle_name")),
            "name_suffix": _s(row.get("name_suffix")) or "--",
            **_nonempty(credential=row.get("credential")),
            "sole_proprietor": _yes_no(row.get("sole_proprietor")),
            **_nonempty(gender=row.get("sex")),
            **_dates(row),
        }
    return _dates(row)


def _other_names(row: Mapping[str, Any], side: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Organizations: the othername file's rows (the main row holds only the first of them, as a fallback).
    Individuals: the main row's other name (the API's keys for it per public clients; no capture shows one)."""

    def org(name: Any, code: Any) -> dict[str, str]:
        return {"organization_name": _s(name), "type": OTHER_NAME_TYPES.get(_s(code), ""), "code": _s(code)}

    if side:
        return [org(o.get("other_organization_name"), o.get("other_organization_name_type")) for o in side]
    if _s(row.get("other_organization_name")):
        return [org(row.get("other_organization_name"), row.get("other_organization_name_type"))]
    if _s(row.get("other_last_name")) or _s(row.get("other_first_name")):
        code = _s(row.get("other_last_name_type"))
        return [
            {
                **_nonempty(
                    first_name=row.get("other_first_name"),
                    last_name=row.get("other_last_name"),
                    middle_name=row.get("other_middle_name"),
                    prefix=row.get("other_name_prefix"),
                    suffix=row.get("other_name_suffix"),
                    credential=row.get("other_credential"),
                ),
                "type": OTHER_NAME_TYPES.get(code, ""),
                "code": code,
            }
        ]
    return []


def _result(
    row: Mapping[str, Any],
    other_names: Sequence[Mapping[str, Any]],
    practice_locations: Sequence[Mapping[str, Any]],
    endpoints: Sequence[Mapping[str, Any]],
    taxonomy_descs: Mapping[str, str],
    country_names: Mapping[str, str],
) -> dict[str, Any]:
    entity = ENUMERATION_TYPES.get(_s(row.get("entity_type")))
    enumerated, updated = row.get("enumeration_date"), row.get("last_update_date")
    mailing = _address(row, "mailing", "MAILING", country_names)
    location = _address(row, "location", "LOCATION", country_names)
    return {
        **({"enumeration_type": entity} if entity else {}),
        "number": _s(row.get("npi")),
        **({"last_updated_epoch": _epoch_ms(updated)} if updated else {}),
        **({"created_epoch": _epoch_ms(enumerated)} if enumerated else {}),
        "basic": _basic(row),
        "other_names": _other_names(row, other_names),
        "addresses": [a for a in (mailing, location) if a is not None],
        "taxonomies": [
            {
                "code": _s(t.get("code")),
                "desc": taxonomy_descs.get(_s(t.get("code")), ""),
                "primary": bool(t.get("is_primary")),
                "state": _s(t.get("license_state")),
                "license": _s(t.get("license")),
                "taxonomy_group": _s(t.get("taxonomy_group")),
            }
            for t in row.get("taxonomies") or ()
        ],
        "identifiers": [
            {
                "identifier": _s(i.get("identifier")),
                "code": _s(i.get("type_code")),
                "desc": IDENTIFIER_TYPES.get(_s(i.get("type_code")), ""),
                "state": _s(i.get("state")),
                "issuer": _s(i.get("issuer")),
            }
            for i in row.get("identifiers") or ()
        ],
        "practiceLocations": [_practice_location(pl, country_names) for pl in practice_locations],
        "endpoints": [_endpoint(e, country_names) for e in endpoints],
    }


def bulk_payload(
    row: Mapping[str, Any],
    other_names: Sequence[Mapping[str, Any]],
    practice_locations: Sequence[Mapping[str, Any]],
    endpoints: Sequence[Mapping[str, Any]],
    *,
    taxonomy_descs: Mapping[str, str] = TAXONOMY_DESCS,
    country_names: Mapping[str, str] = COUNTRY_NAMES,
) -> dict[str, Any]:
    """``{"result_count": 1, "results": [...]}`` for a provider row, as the API would answer a lookup by number."""
    result = _result(row, other_names, practice_locations, endpoints, taxonomy_descs, country_names)
    return {"result_count": 1, "results": [result]}


def output_row(row: Mapping[str, Any]) -> tuple:
    """The npi.parquet row (``NPI_DATASET_COLUMNS``) of a bulk row: the payload's parts each encoded alone."""
    sides = (row["other_names_rows"], row["practice_location_rows"], row["endpoint_rows"])
    [result] = bulk_payload(row, *sides)["results"]
    npidata = row["source_file"]
    files = {kind: npidata.replace("npidata_pfile", f"{kind}_pfile", 1) for kind in ("othername", "pl", "endpoint")}
    params = bulk_request_params(row.get("bundle_key") or "", npidata, files)
    results = to_json([result])
    lists = ("addresses", "practiceLocations", "taxonomies", "identifiers", "other_names", "endpoints")
    return (
        row["npi"],
        to_json(result["basic"]),
        *(to_json(result[key]) for key in lists),
        bulk_url(row["source_kind"], npidata),
        None,
        None,
        None,
        to_json(params),
        results,
        to_json({"result_count": 1, "results": [result]}),
    )

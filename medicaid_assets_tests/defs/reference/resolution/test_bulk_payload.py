"""Bulk rows → API-shaped payloads (the Python oracle, which the product's query equals), checked against the
API emulator and the real captures.

The strongest check: the sample world's providers are written as a real V2 npidata CSV and side files (the
writer's own rows, all values quoted, Latin-1), loaded with the pipeline's DuckDB SQL, turned into payloads,
and compared field by field with what the API emulator answers for the same providers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from medicaid_assets.defs.reference.nppes.bundles import SIDE_TABLES, V2_HEADER, provider_select_sql, side_select_sql
from medicaid_assets.defs.reference.resolution.bulk_payload import (
    COUNTRY_NAMES,
    TAXONOMY_DESCS,
    bulk_request_params,
    bulk_url,
)
from medicaid_assets.sample_world import npi_api, providers
from medicaid_assets.sample_world.nppes_files import nppes_row, side_rows
from medicaid_assets_tests.conftest import REFERENCE, TEST_SPEC
from medicaid_assets_tests.defs.reference.resolution.bulk_payload_oracle import (
    bulk_payload,
    format_phone,
    provider_name,
)

NPIDATA = "npidata_pfile_20050523-20261018.csv"
AS_OF = date(2026, 10, 18)
# Deliberate differences from the emulator's answer, by path ("[]" = any list element), with the reason:
DIFFERENCES = {
    # The bulk file has dates only: epochs are midnight UTC of them (as the 2019 captures' epochs are);
    # the emulator, like the current API, adds a time of day. Compared by date below.
    ".created_epoch": "value",
    ".last_updated_epoch": "value",
    # The pl file has no update stamp; inventing one would be false.
    ".practiceLocations[].update_date": "missing",
    # The bulk file's "Content Description" is blank for these endpoints and is copied as is; the emulator
    # falls back to a description of the content type.
    ".endpoints[].contentTypeDescription": "value",
}
# Keys the bulk payload may carry that no real capture shows, with the reason.
EXTRA_KEYS = {
    "basic": {
        "certification_date",  # in the bulk file; public clients' schemas of the API have it
        "name_suffix",  # the 2026 convention ("--" when empty), seen on the authorized official
        "deactivation_date",  # ours, status D only: the API answers nothing for a deactivated NPI
    },
    "address": {"address_2"},  # left out when empty (2026); present in the 2019 captures
    "practiceLocations": {"fax_number", "telephone_extension"},  # the pl file's columns; the API's key names
}


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    with path.open("w", encoding="latin-1", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def world_rows(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[providers.Provider, dict, dict]]:
    """(provider, provider-table row, side rows by kind) for every provider of the test world with a record."""
    folder = tmp_path_factory.mktemp("bulk")
    people = [p for i in range(TEST_SPEC.range_unknown().start) if (p := providers.current_provider(TEST_SPEC, i))]
    _write_csv(folder / NPIDATA, V2_HEADER, (nppes_row(p) for p in people))  # V2_HEADER: the formats file
    for side in SIDE_TABLES:
        _write_csv(
            folder / f"{side.kind}_pfile_x.csv", side.header, (r for p in people for r in side_rows(p)[side.kind])
        )
    con = duckdb.connect()
    rows = {r["npi"]: r for r in _fetch(con, provider_select_sql(folder / NPIDATA, "monthly", AS_OF))}
    sides: dict[str, dict[str, list[dict]]] = {}
    for side in SIDE_TABLES:
        for r in _fetch(con, side_select_sql(side, folder / f"{side.kind}_pfile_x.csv")):
            sides.setdefault(r["npi"], {}).setdefault(side.kind, []).append(r)
    assert len(rows) == len(people)
    return [(p, rows[p.npi], sides.get(p.npi, {})) for p in people]


def _payload(row: dict, side: dict, **kwargs: Any) -> dict:
    return bulk_payload(row, side.get("othername", []), side.get("pl", []), side.get("endpoint", []), **kwargs)


def _differences(ours: Any, theirs: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, kind) of every difference: missing/extra key, list length, type, value."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = [(f"{path}.{k}", "missing") for k in theirs.keys() - ours.keys()]
        out += [(f"{path}.{k}", "extra") for k in ours.keys() - theirs.keys()]
        for k in ours.keys() & theirs.keys():
            out += _differences(ours[k], theirs[k], f"{path}.{k}")
        return out
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [(path, "length")]
        return [d for a, b in zip(ours, theirs, strict=True) for d in _differences(a, b, path + "[]")]
    if type(ours) is not type(theirs):
        return [(path, f"type {type(ours).__name__} != {type(theirs).__name__}")]
    return [] if ours == theirs else [(path, "value")]


def _epoch_day(epoch_ms: str) -> date:
    return datetime.fromtimestamp(int(epoch_ms) / 1000, UTC).date()


def test_payloads_match_the_api_emulator(world_rows: list) -> None:
    """Same keys, types and values as the emulator's answer, except the listed deliberate differences."""
    seen: dict[str, int] = {}
    active = [(p, row, side) for p, row, side in world_rows if p.entity_type]
    for p, row, side in active:
        ours = _payload(row, side, taxonomy_descs=providers.TAXONOMY_DESCS, country_names=npi_api.COUNTRY_NAMES)
        theirs = npi_api.npi_api_result(p)
        assert ours["result_count"] == 1
        result = ours["results"][0]
        unexpected = [d for d in _differences(result, theirs) if DIFFERENCES.get(d[0]) != d[1]]
        assert not unexpected, (p.npi, unexpected)
        for key in ("created_epoch", "last_updated_epoch"):
            assert _epoch_day(result[key]) == _epoch_day(theirs[key]), (p.npi, key)
        for d in _differences(result, theirs):
            seen[d[0]] = seen.get(d[0], 0) + 1
    # The comparison covered what it claims: both entity types, foreign addresses, side files, identifiers.
    results = [_payload(row, side)["results"][0] for _, row, side in active]
    assert {r["enumeration_type"] for r in results} == {"NPI-1", "NPI-2"}
    assert any(a["address_type"] == "FGN" for r in results for a in r["addresses"])
    for key in ("practiceLocations", "endpoints", "other_names", "identifiers"):
        assert sum(bool(r[key]) for r in results) >= 5, key
    assert any(len(r["other_names"]) > 1 for r in results)  # all of them from the othername file
    assert any(len(r["taxonomies"]) > 3 for r in results)
    assert set(seen) == set(DIFFERENCES)


def test_deactivated_records_keep_what_the_file_has(world_rows: list) -> None:
    """The API answers nothing for them; the payload says D, with the deactivation date and no entity type."""
    deactivated = [(p, row, side) for p, row, side in world_rows if p.entity_type == 0]
    assert deactivated
    for p, row, side in deactivated:
        result = _payload(row, side)["results"][0]
        assert row["status"] == "D" and provider_name(row) is None
        assert result["number"] == p.npi and "enumeration_type" not in result
        assert result["basic"] == {"deactivation_date": p.deactivation_date.isoformat(), "status": "D"}
        assert result["addresses"] == result["taxonomies"] == result["other_names"] == []


def test_reactivated_records_are_active(world_rows: list) -> None:
    reactivated = [row for p, row, _ in world_rows if p.reactivation_date]
    assert reactivated and all(row["status"] == "A" for row in reactivated)
    assert all("deactivation_date" not in _payload(row, {})["results"][0]["basic"] for row in reactivated)


def test_provider_name_is_the_sql_rule(world_rows: list) -> None:
    for p, row, _ in world_rows:
        assert provider_name(row) == row["provider_name"] == (p.display_name or None)


def _keys(results: Iterable[dict], pick: str) -> dict[str, type]:
    """Key → value type over the objects ``pick`` selects from results."""
    out: dict[str, type] = {}
    for r in results:
        objects = {
            "result": [r],
            "basic": [r["basic"]],
            "address": r["addresses"],
            "practiceLocations": r.get("practiceLocations", []),
            "taxonomies": r["taxonomies"],
            "identifiers": r["identifiers"],
        }[pick]
        for obj in objects:
            out |= {k: type(v) for k, v in obj.items()}
    return out


def test_payloads_have_the_real_captures_shape(world_rows: list) -> None:
    """Every key we write is one a real capture shows (or a listed extra); types are the 2026 capture's."""
    real = [
        r
        for name in (
            "individual",
            "organization",
            "organization_2026_capture",
            "search_two_results_foreign_address",
        )
        for r in json.loads((REFERENCE / f"nppes_api_v21_{name}.json").read_text())["results"]
    ]
    current = json.loads((REFERENCE / "nppes_api_v21_organization_2026_capture.json").read_text())["results"]
    ours = [_payload(row, side)["results"][0] for p, row, side in world_rows if p.entity_type]
    for pick in ("result", "basic", "address", "practiceLocations", "taxonomies", "identifiers"):
        real_keys, our_keys = _keys(real, pick), _keys(ours, pick)
        assert our_keys.keys() - real_keys.keys() <= EXTRA_KEYS.get(pick, set()), pick
        for key, kind in _keys(current, pick).items():
            assert our_keys.get(key) is kind, (pick, key)  # e.g. number and epochs strings, primary bool
    # Never written: the original's MM/DD/YYYY dates, FOR, bare-digit address phones.
    text = json.dumps(ours)
    assert '"FOR"' not in text
    for r in ours:
        assert date.fromisoformat(r["basic"]["enumeration_date"])
        assert all(a.get("telephone_number", "000-000-0000")[3] == "-" for a in r["addresses"])
    # The real organization capture, rebuilt from its bulk-file values, gives the capture back.
    row = {
        "npi": "1770626038",
        "entity_type": "2",
        "status": "A",
        "organization_name": "INOVA FAIRFAX HOSPITAL",
        "organization_subpart": "N",
        "mailing_address_line1": "12609 LAMP POST LN",
        "mailing_city": "POTOMAC",
        "mailing_state": "MD",
        "mailing_postal_code": "208542314",
        "mailing_country": "US",
        "mailing_phone": "3013093781",
        "location_address_line1": "3300 GALLOWS RD",
        "location_city": "FALLS CHURCH",
        "location_state": "VA",
        "location_postal_code": "220423307",
        "location_country": "US",
        "location_phone": "7037764132",
        "enumeration_date": date(2007, 2, 15),
        "last_update_date": date(2008, 10, 1),
        "official_last_name": "SOLOMON",
        "official_first_name": "KELLY",
        "official_middle_name": "ANN",
        "official_title": "Thoracic Nurse Practitioner",
        "official_phone": "7037764132",
        "official_name_prefix": "Mrs.",
        "official_credential": "NP",
        "taxonomies": [
            {"code": "282N00000X", "license": "0017138748", "license_state": "VA", "is_primary": True},
        ],
        "identifiers": [
            {"identifier": "0017138748", "type_code": "01", "state": "VA", "issuer": "Nurse Practitioner number"}
        ],
    }
    expected = current[0] | {"created_epoch": "1171497600000", "last_updated_epoch": "1222819200000"}
    assert bulk_payload(row, [], [], []) == {"result_count": 1, "results": [expected]}


def test_foreign_addresses_and_unknown_descriptions() -> None:
    row = {
        "npi": "1053975268",
        "entity_type": "1",
        "first_name": "KELSEY",
        "last_name": "SPRANG",
        "mailing_address_line1": "1 KING ST",
        "mailing_city": "TORONTO",
        "mailing_state": "ON",
        "mailing_postal_code": "M5V3L9",
        "mailing_country": "CA",
        "mailing_phone": "+1 416 555",
        "taxonomies": [{"code": "103TC0700X", "is_primary": True}],
        "identifiers": [{"identifier": "X1", "type_code": "99"}],
        "other_last_name": "SMITH",
        "other_last_name_type": "1",
    }
    result = bulk_payload(row, [], [], [])["results"][0]
    assert result["addresses"] == [
        {
            "country_code": "CA",
            "country_name": "",  # not in the minimal table
            "address_purpose": "MAILING",
            "address_type": "FGN",
            "address_1": "1 KING ST",
            "city": "TORONTO",
            "state": "ON",
            "postal_code": "M5V3L9",  # as the file spells it, not reduced to digits
            "telephone_number": "+1 416 555",
        }
    ]
    assert result["taxonomies"][0]["desc"] == "" and result["taxonomies"][0]["taxonomy_group"] == ""
    assert result["identifiers"][0]["desc"] == ""
    assert result["other_names"] == [{"last_name": "SMITH", "type": "Former Name", "code": "1"}]
    assert result["basic"]["name_prefix"] == result["basic"]["name_suffix"] == "--"
    assert "gender" not in result["basic"] and result["basic"]["status"] == "A"
    assert "Orthopaedic Surgery" in TAXONOMY_DESCS.values() and COUNTRY_NAMES["US"] == "United States"


def test_organization_other_name_from_the_main_row_when_no_side_rows() -> None:
    row = {
        "npi": "1",
        "entity_type": "2",
        "other_organization_name": "HOPE CLINIC",
        "other_organization_name_type": "3",
    }
    side = [{"other_organization_name": "A", "other_organization_name_type": "5"}]
    assert bulk_payload(row, [], [], [])["results"][0]["other_names"] == [
        {"organization_name": "HOPE CLINIC", "type": "Doing Business As", "code": "3"}
    ]
    assert bulk_payload(row, side, [], [])["results"][0]["other_names"] == [
        {"organization_name": "A", "type": "Other Name", "code": "5"}
    ]


def test_phone_url_and_request_params() -> None:
    assert format_phone("3013093781") == "301-309-3781"
    assert format_phone(" 301309378 ") == "301309378" and format_phone(None) == ""
    assert bulk_url("weekly", "npidata_pfile_20261109-20261115.csv") == (
        "nppes_bulk:weekly:npidata_pfile_20261109-20261115.csv"
    )
    assert bulk_request_params("NPPES_Data_Dissemination_October_2026_V2", NPIDATA, {"pl": "pl_pfile_x.csv"}) == {
        "source": "nppes_bulk",
        "bundle": "NPPES_Data_Dissemination_October_2026_V2",
        "npidata_file": NPIDATA,
        "othername_file": None,
        "pl_file": "pl_pfile_x.csv",
        "endpoint_file": None,
    }

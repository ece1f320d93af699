"""npi.parquet rows: bulk hits built by one DuckDB query are, byte for byte, what the Python oracle writes.

The oracle (``bulk_payload_oracle``) encodes the payload dicts with ``json``; the query writes the JSON text
itself. Both run on every bulk row of the test sample world (loaded by the pipeline's own assets) and on
crafted rows with hostile text; the dataset then merges them with the cache's rows in NPI order.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medicaid_assets.cli.runner import Runner
from medicaid_assets.dagster_kit.io_managers import SqlFrame
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.reference.resolution.bulk_payload import TAXONOMY_DESCS, bulk_dataset
from medicaid_assets.defs.reference.resolution.npi_cache import NpiCache, NpiRecord, NpiResponse, to_json
from medicaid_assets.defs.reference.resolution.outputs import npi_dataset_batches
from medicaid_assets.defs.reference.resolution.writers import NPI_DATASET_COLUMNS
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.settings import Settings
from medicaid_assets_tests.defs.reference.resolution.bulk_payload_oracle import bulk_payload, output_row

LATIN_1 = "".join(map(chr, range(256)))
# Text JSON escapes or keeps as it is, with what str.strip strips beyond spaces at its ends.
HOSTILE = (
    LATIN_1,
    "\x85\xa0\u3000 " + LATIN_1 + "\x1c\t",
    'quote " backslash \\ slash / \\u000B \\\\u001f \\"',
    "\x00\x01\x0b\x0e\x0f\x1a\x1b\x1f\x7f \u2028\u2029 \U0001f600 </script>",
    "\\\x0b\\\\\x1a\\",
)
# The module's fixture runs the sources, the weeklies and the bulk rows of the test world: over 10 s on 2 cores.
pytestmark = pytest.mark.slow
BLANKS = (None, "", " ", "\t", "\xa0", "\u3000\x1c")
PHONES = ("3013093781", " 3013093781\xa0", "301309378", "30130937810", "²013093781", "٣٠١٣٠٩٣٧٨١", "301-309-37", "x")
COUNTRIES = (None, "", " ", "US", " US ", "us", "UM", "CA", "XX")
DATES = (None, date(1970, 1, 1), date(1969, 12, 31), date(1, 1, 1), date(2008, 10, 1), date(9999, 12, 31))


@pytest.fixture(scope="module")
def bulk_rows(tmp_path_factory: pytest.TempPathFactory, sourced: Path, world_server: WorldServer) -> Path:
    """``resolution/npi_bulk_rows`` of the test world: the monthly and weekly NPPES files, as the pipeline loads them
    (from a copy of the package's sourced data dir)."""
    data = shutil.copytree(sourced, tmp_path_factory.mktemp("bulk_rows") / "data")
    settings = settings_for_world(Settings.from_env({"MEDICAID_DATA_DIR": str(data)}), world_server.base_url)
    keys = dg.AssetSelection.assets(["resolution", "dataset_npis"], ["resolution", "npi_bulk_rows"])
    with dg.instance_for_test() as instance:
        assert Runner(build_definitions(settings), instance, quiet=True).run(main_job.name, keys)
    return DataLayout(data).assets / "resolution" / "npi_bulk_rows.parquet"  # where the parquet IO manager keeps it


def _query_rows(path: Path) -> list[tuple]:
    with duckdb.connect() as conn:
        batches = list(bulk_dataset(conn, path, 1000))
    return [row for batch in batches for row in zip(*batch.to_pydict().values(), strict=True)]


def _assert_same(path: Path) -> list[dict[str, Any]]:
    """The query's row for every row of bulk-rows parquet ``path`` is the oracle's, column by column."""
    rows = pq.read_table(path).to_pylist()
    got = _query_rows(path)
    assert len(got) == len(rows)
    for row, ours in zip(rows, got, strict=True):
        expected = output_row(row)
        for column, a, b in zip(NPI_DATASET_COLUMNS, ours, expected, strict=True):
            assert a == b, (row["npi"], column, a, b)
    return rows


def test_every_world_bulk_row_is_the_oracles(bulk_rows: Path) -> None:
    rows = _assert_same(bulk_rows)
    # The world covered what it claims: both entity types, deactivated records, weekly rows, every side file.
    results = [bulk_payload(r, r["other_names_rows"], r["practice_location_rows"], r["endpoint_rows"]) for r in rows]
    results = [p["results"][0] for p in results]
    assert {r.get("enumeration_type") for r in results} == {"NPI-1", "NPI-2", None}
    assert {r["source_kind"] for r in rows} == {"monthly", "weekly"}
    for key in ("practiceLocations", "endpoints", "other_names", "identifiers"):
        assert any(r[key] for r in results), key
    assert any(a["address_type"] == "FGN" for r in results for a in r["addresses"])


def _crafted(schema: pa.Schema) -> list[dict[str, Any]]:
    """Rows with hostile text in every kind of field (required, optional, dashed, phone, lookup, list item)."""
    base = {
        "source_file": "npidata_pfile_20050523-20261025.csv",
        "source_kind": "monthly",
        "bundle_key": "NPPES_Data_Dissemination_October_2026_V2",
        "other_names_rows": [],
        "practice_location_rows": [],
        "endpoint_rows": [],
    }
    texts = [*HOSTILE, *BLANKS, *LATIN_1]
    text_fields = [f.name for f in schema if pa.types.is_string(f.type) and f.name not in base and f.name != "npi"]
    rows: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        other, location, endpoint = (
            {f.name: texts[(i + k) % len(texts)] for k, f in enumerate(schema.field(column).type.value_type)}
            for column in ("other_names_rows", "practice_location_rows", "endpoint_rows")
        )
        rows.append(
            base
            | {f: texts[(i + k) % len(texts)] for k, f in enumerate(text_fields)}
            | {
                "npi": f"{i:010d}",
                "entity_type": ("1", "2", " 1 ", "2\xa0", None, "3", "")[i % 7],
                "status": ("A", "D", " D", None, "", "X")[i % 6],
                "mailing_phone": PHONES[i % len(PHONES)],
                "location_fax": PHONES[(i + 3) % len(PHONES)],
                "official_phone": PHONES[i % len(PHONES)],
                "mailing_country": COUNTRIES[i % len(COUNTRIES)],
                "location_country": COUNTRIES[(i + 4) % len(COUNTRIES)],
                "enumeration_date": DATES[i % len(DATES)],
                "last_update_date": DATES[(i + 1) % len(DATES)],
                "certification_date": DATES[(i + 2) % len(DATES)],
                "deactivation_date": DATES[(i + 3) % len(DATES)],
                "sole_proprietor": ("Y", "N", "X", " Y", None)[i % 5],
                "organization_subpart": ("Y", "N", None)[i % 3],
                "taxonomies": [
                    {"code": code, "license": text, "license_state": None, "is_primary": primary, "taxonomy_group": ""}
                    for code, primary in ((next(iter(TAXONOMY_DESCS)), True), (text, None), ("  ", False))
                ][: i % 4],
                "identifiers": [{"identifier": text, "type_code": ("05", " 01", text, None)[i % 4], "state": "NY"}]
                * (i % 3),
                "other_names_rows": [other, other | {"other_organization_name": None}][: i % 3],
                "practice_location_rows": [
                    location | {"country": COUNTRIES[i % len(COUNTRIES)], "phone": PHONES[i % len(PHONES)]}
                ]
                * (i % 2),
                "endpoint_rows": [endpoint | {"affiliation_address_country": "UM"}] * ((i + 1) % 2),
                "bundle_key": (base["bundle_key"], None, "")[i % 3],
                "source_kind": ("monthly", "weekly")[i % 2],
            }
        )
    # Individuals whose other name is on the main row only (no organization other name), or blank everywhere.
    for i, text in enumerate(HOSTILE + BLANKS):
        rows.append(
            base
            | {
                "npi": f"9{i:09d}",
                "entity_type": "1",
                "other_last_name": text,
                "other_first_name": BLANKS[i % len(BLANKS)],
                "other_credential": text,
                "other_last_name_type": ("1", "5", None, text)[i % 4],
            }
        )
    return rows


def test_crafted_hostile_rows_are_the_oracles(bulk_rows: Path, tmp_path: Path) -> None:
    """Escapes (quotes, backslashes, every control character, text that looks like an escape), non-ASCII kept,
    Unicode whitespace stripped, NULL vs "" vs blank, empty lists, odd entity types and statuses, phones."""
    schema = pq.read_schema(bulk_rows)
    path = tmp_path / "npi_bulk_rows.parquet"
    pq.write_table(pa.Table.from_pylist(_crafted(schema), schema=schema), path)
    rows = _assert_same(path)
    texts = [t for r in _query_rows(path) for t in r[1:8]]
    assert any("\\u000b" in t for t in texts) and any("\\\\u000B" in t for t in texts)  # lowered, escaped text kept
    assert any(LATIN_1[0x80:] in t for t in texts)  # non-ASCII kept, not escaped
    assert len(rows) > len(LATIN_1)


def test_the_dataset_merges_bulk_and_cached_rows_in_npi_order(bulk_rows: Path, tmp_path: Path) -> None:
    """Cached answers and unanswered NPIs fall between and after the bulk rows; one row per dataset NPI."""
    layout = DataLayout(tmp_path / "data")
    bulk = pq.read_table(bulk_rows)
    bulk_npis = bulk["npi"].to_pylist()
    stored = SqlFrame(f"SELECT * FROM read_parquet('{bulk_rows}')")  # as the parquet IO manager loads it
    answered = {"0000000001", bulk_npis[len(bulk_npis) // 2][:-1] + "~", "9999999999"}
    unanswered = {"1234567893": "not_found", "12": "invalid", "0000000002": None}
    npis = sorted({*bulk_npis[1:], *answered, *unanswered})  # the first bulk row is not a dataset NPI
    with NpiCache(layout.npi_cache) as cache:
        for npi in answered:
            payload = {"result_count": 1, "results": [{"number": npi, "basic": {"name": "Ω"}}]}
            response = NpiResponse("https://npiregistry.cms.hhs.gov/api/", {"number": npi}, "run", "1", payload)
            cache.upsert_result(NpiRecord(npi, "ok", "NAME", response=response))
        cache.bulk_upsert([NpiRecord("1234567893", "not_found"), NpiRecord.invalid("12")])
        # the lookups settle every bulk NPI in the cache first; only settled NPIs take their bulk record
        settled = [npi for npi in bulk_npis[1:] if npi not in answered]
        cache.bulk_upsert(NpiRecord(npi, "ok", "NAME") for npi in settled)
        expected_cached = {r[0]: r for r in cache.parquet_rows(answered)}
    rows = [
        row
        for batch in npi_dataset_batches(layout, npis, stored)
        for row in zip(*batch.to_pydict().values(), strict=True)
    ]
    assert [r[0] for r in rows] == npis
    by_npi = {r[0]: r for r in rows}
    oracle = {r["npi"]: output_row(r) for r in bulk.to_pylist()}
    for npi in npis:
        if npi in answered:
            assert by_npi[npi] == expected_cached[npi]
        elif npi in unanswered:
            status = unanswered[npi] or "missing_cache"
            assert by_npi[npi][8] == status and by_npi[npi][-1] == to_json({"result_count": 0, "results": []})
        else:
            assert by_npi[npi] == oracle[npi]
    assert json.loads(by_npi["9999999999"][-1])["results"][0]["basic"] == {"name": "Ω"}

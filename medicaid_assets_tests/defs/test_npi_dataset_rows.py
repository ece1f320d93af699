"""npi.parquet rows of bulk hits: the JSON spliced from encoded parts is exactly the payload encoded whole."""

import json
from datetime import date

from medicaid_assets.defs.outputs.assets import _bulk_output_row
from medicaid_assets.lib.bulk_payload import bulk_payload
from medicaid_assets.lib.npi_cache import to_json
from medicaid_assets.lib.outputs import NPI_DATASET_COLUMNS

ROW = {
    "npi": "1053975268",
    "entity_type": "1",
    "first_name": "ZOË",  # non-ASCII kept as is
    "last_name": 'O"NEIL\\',  # characters JSON escapes
    "mailing_address_line1": "1 KING ST",
    "mailing_city": "TORONTO",
    "mailing_state": "ON",
    "mailing_postal_code": "M5V3L9",
    "mailing_country": "CA",
    "enumeration_date": date(2010, 5, 3),
    "last_update_date": date(2024, 1, 9),
    "status": "A",
    "taxonomies": [{"code": "207X00000X", "is_primary": True, "license": "L1", "license_state": "NY"}],
    "identifiers": [{"identifier": "X1", "type_code": "05", "state": "NY", "issuer": ""}],
    "source_file": "npidata_pfile_20050523-20261025.csv",
    "source_kind": "monthly",
    "bundle_key": "NPPES_Data_Dissemination_October_2026_V2",
    "other_names_rows": [],
    "practice_location_rows": [{"address_line1": "2 MAIN ST", "city": "ALBANY", "state": "NY", "phone": "5185550100"}],
    "endpoint_rows": [],
}


def test_spliced_json_equals_the_whole_payload_encoded() -> None:
    out = dict(zip(NPI_DATASET_COLUMNS, _bulk_output_row(ROW), strict=True))
    payload = bulk_payload(ROW, [], ROW["practice_location_rows"], [])
    result = payload["results"][0]
    assert out["response_json"] == to_json(payload)
    assert out["results"] == to_json(payload["results"])
    assert out["basic"] == to_json(result["basic"]) and out["practice_locations"] == to_json(
        result["practiceLocations"]
    )
    assert json.loads(out["response_json"]) == payload and "ZOË" in out["response_json"]

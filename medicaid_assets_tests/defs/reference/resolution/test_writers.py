"""Output writers: exact columns, string-only parquet in batches, atomic replacement, the unresolved report."""

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medicaid_assets.core.npi import make_npi
from medicaid_assets.defs.reference.resolution.writers import (
    HCPCS_DATASET_COLUMNS,
    HCPCS_MAPPING_COLUMNS,
    NPI_DATASET_COLUMNS,
    NPI_MAPPING_COLUMNS,
    TRIAGE_COLUMNS,
    UNRESOLVED_COLUMNS,
    count_rows,
    preview,
    unresolved_rows,
    write_csv,
    write_parquet,
)


def test_column_contracts() -> None:
    assert ",".join(NPI_MAPPING_COLUMNS) == "npi,provider_name,status,fetched_at_unix"
    assert ",".join(HCPCS_MAPPING_COLUMNS) == (
        "hcpcs_code,short_desc,long_desc,add_dt,act_eff_dt,term_dt,obsolete,is_noc,status,fetched_at_unix"
    )
    assert ",".join(NPI_DATASET_COLUMNS) == (
        "npi,basic,addresses,practice_locations,taxonomies,identifiers,other_names,endpoints,url,"
        "error_message,api_run_id,requested_at_utc,request_params,results,response_json"
    )
    assert ",".join(HCPCS_DATASET_COLUMNS) == (
        "hcpcs_code,ef_short_desc,ef_long_desc,ef_add_dt,ef_act_eff_dt,ef_term_dt,ef_obsolete,ef_is_noc,"
        "response_codes,response_display,response_extra_fields,url,error_message,api_run_id,requested_at_utc,"
        "request_params,response_json"
    )
    assert ",".join(UNRESOLVED_COLUMNS) == "identifier_type,identifier,status,error_message,fetched_at_unix"
    assert ",".join(TRIAGE_COLUMNS) == (
        "identifier_type,identifier,status,error_message,fetched_at_unix,"
        "inferred_code_type,base_code,suffix_or_modifier,identifier_norm"
    )


@pytest.mark.parametrize(
    "columns", [NPI_MAPPING_COLUMNS, HCPCS_MAPPING_COLUMNS, UNRESOLVED_COLUMNS, TRIAGE_COLUMNS], ids=len
)
def test_csv_header_is_the_column_tuple(tmp_path: Path, columns: tuple[str, ...]) -> None:
    path = tmp_path / "out.csv"
    assert write_csv(path, columns, [dict.fromkeys(columns, "x")]) == 1
    assert path.read_bytes() == (",".join(columns) + "\n" + ",".join("x" * len(columns)) + "\n").encode()


def test_csv_quoting_nulls_mappings_and_utf8(tmp_path: Path) -> None:
    path = tmp_path / "npi_provider_mapping.csv"
    rows = [
        ("1234567893", 'ACME, "West" clinic', "ok", 1700000000),
        {"npi": "1245319599", "status": "not_found", "fetched_at_unix": 1700000001},
        ("1003000126", "Zoë\nNoël", "ok", None),
    ]
    assert write_csv(path, NPI_MAPPING_COLUMNS, iter(rows)) == 3
    assert path.read_bytes().decode("utf-8") == (
        "npi,provider_name,status,fetched_at_unix\n"
        '1234567893,"ACME, ""West"" clinic",ok,1700000000\n'
        "1245319599,,not_found,1700000001\n"
        '1003000126,"Zoë\nNoël",ok,\n'
    )
    assert count_rows(path) == 3
    assert preview(path, n=2) == (
        list(NPI_MAPPING_COLUMNS),
        [("1234567893", 'ACME, "West" clinic', "ok", "1700000000"), ("1245319599", "", "not_found", "1700000001")],
    )


def test_csv_refuses_a_row_of_the_wrong_width(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="3 values for 4 columns"):
        write_csv(tmp_path / "x.csv", NPI_MAPPING_COLUMNS, [("1", "2", "3")])
    assert list(tmp_path.iterdir()) == []


def _dataset_rows(n: int) -> Iterator[dict[str, object]]:
    for i in range(n):
        yield {
            "npi": make_npi(100000000 + i),
            "basic": {"first_name": "Ann", "n": i},
            "addresses": [],
            "url": None if i % 2 else f"nppes_bulk:weekly:npidata_{i}.csv",
            "requested_at_utc": 1700000000 + i,
        }


def test_parquet_schema_is_all_nullable_strings_snappy_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "npi.parquet"
    assert write_parquet(path, NPI_DATASET_COLUMNS, _dataset_rows(7), batch_rows=3) == 7
    parquet = pq.ParquetFile(path)
    assert parquet.schema_arrow.names == list(NPI_DATASET_COLUMNS)
    assert all(field.type == pa.string() and field.nullable for field in parquet.schema_arrow)
    meta = parquet.metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [3, 3, 1]
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {"SNAPPY"}

    table = pq.read_table(path)
    first = table.slice(0, 1).to_pylist()[0]
    assert first["npi"] == make_npi(100000000)
    assert first["basic"] == '{"first_name":"Ann","n":0}'
    assert first["addresses"] == "[]"
    assert first["url"] == "nppes_bulk:weekly:npidata_0.csv"
    assert first["requested_at_utc"] == "1700000000"
    assert first["error_message"] is None
    assert table.column("url").null_count == 3
    assert count_rows(path) == 7
    columns, rows = preview(path, n=5)
    assert columns == list(NPI_DATASET_COLUMNS)
    assert [row[0] for row in rows] == [make_npi(100000000 + i) for i in range(5)]


def test_parquet_default_batch_is_10000_rows(tmp_path: Path) -> None:
    path = tmp_path / "hcpcs.parquet"
    rows = ((f"C{i:05d}",) + (None,) * (len(HCPCS_DATASET_COLUMNS) - 1) for i in range(10_001))
    assert write_parquet(path, HCPCS_DATASET_COLUMNS, rows) == 10_001
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [10_000, 1]


def test_parquet_without_rows_still_has_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "hcpcs.parquet"
    assert write_parquet(path, HCPCS_DATASET_COLUMNS, []) == 0
    assert pq.read_schema(path).names == list(HCPCS_DATASET_COLUMNS)
    assert count_rows(path) == 0
    assert preview(path) == (list(HCPCS_DATASET_COLUMNS), [])


def _rows_then_crash(columns: tuple[str, ...], good_rows: int) -> Iterator[tuple]:
    for i in range(good_rows):
        yield (f"new{i}",) + ("v",) * (len(columns) - 1)
    raise RuntimeError("source failed mid-stream")


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("mapping.csv", lambda path, rows: write_csv(path, NPI_MAPPING_COLUMNS, rows)),
        ("npi.parquet", lambda path, rows: write_parquet(path, NPI_MAPPING_COLUMNS, rows, batch_rows=2)),
    ],
)
def test_a_failure_mid_write_keeps_the_previous_file(tmp_path: Path, name: str, write) -> None:
    path = tmp_path / name
    write(path, [("old", "name", "ok", 1)])
    before = path.read_bytes()

    with pytest.raises(RuntimeError, match="mid-stream"):
        write(path, _rows_then_crash(NPI_MAPPING_COLUMNS, good_rows=5))

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        write_parquet(tmp_path / "npi.parquet", NPI_MAPPING_COLUMNS, _rows_then_crash(NPI_MAPPING_COLUMNS, 3))
    assert list(tmp_path.iterdir()) == []


def test_unresolved_rows_npi_block_then_hcpcs_block_sorted(tmp_path: Path) -> None:
    valid_missing = make_npi(200000001)
    npi = [
        (make_npi(200000009), "not_found", "not_found", 50),
        (make_npi(100000000), "ok", None, 10),
        (make_npi(150000000), "error", "HTTP 503 after 5 attempts", 40),
        (valid_missing, None, None, None),
        ("12345", "invalid", "not a valid NPI", 5),
        ("ABC1234567", None, None, None),
    ]
    hcpcs = [
        ("Q3014GT", "not_found", "not_found", 7),
        ("99213", "ok", None, 3),
        ("99213", "ok", None, 3),  # a second record of the same code
        ("A0001", "not_found", "not_found", 1),
        ("A0001", "ok", None, 2),  # any ok record settles the code
        ("0450", None, None, None),
        ("D1234", "error", "HTTP 500", 9),
    ]
    rows = unresolved_rows(npi, hcpcs)
    assert rows == [
        ("npi", "12345", "invalid", "not a valid NPI", 5),
        ("npi", make_npi(150000000), "error", "HTTP 503 after 5 attempts", 40),
        ("npi", valid_missing, "missing_cache", "missing_cache", None),
        ("npi", make_npi(200000009), "not_found", "not_found", 50),
        ("npi", "ABC1234567", "invalid", "not a valid NPI", None),
        ("hcpcs", "0450", "missing_cache", "missing_cache", None),
        ("hcpcs", "D1234", "error", "HTTP 500", 9),
        ("hcpcs", "Q3014GT", "not_found", "not_found", 7),
    ]
    path = tmp_path / "unresolved_identifiers.csv"
    assert write_csv(path, UNRESOLVED_COLUMNS, rows) == 8
    assert path.read_text().splitlines()[:2] == [
        "identifier_type,identifier,status,error_message,fetched_at_unix",
        "npi,12345,invalid,not a valid NPI,5",
    ]


def test_unresolved_rows_refuses_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="unexpected hcpcs status 'pending'"):
        unresolved_rows([], [("A0001", "pending", None, None)])

"""Iceberg tables (PyIceberg SQL catalog) written and re-written by partition, read back by DuckDB's iceberg extension:
on local disk, and on a moto S3 server on loopback."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from medicaid_assets.dagster_kit import iceberg
from medicaid_assets.dagster_kit.iceberg import IcebergResource, iceberg_from_settings
from medicaid_assets.settings import Settings
from medicaid_assets_tests.infra.conftest import S3Server


def bench(state: str, amounts: dict[str, float]) -> pa.Table:
    return pa.table(
        {
            "state": [state] * len(amounts),
            "code": list(amounts),
            "amount": list(amounts.values()),
        }
    )


def round_trip(ice: IcebergResource) -> None:
    ice.write("bench", bench("GA", {"99213": 81.86, "27447": 12866.82}), "state", "GA")
    ice.write("bench", bench("NC", {"99213": 79.1}), "state", "NC")
    first = ice.metadata_location("bench")
    # GA re-written from a stream of three batches (regrouped in chunks of two rows): one commit, NC untouched
    stream = bench("GA", {"99214": 115.2, "99215": 160.0, "27447": 12000.0})
    reader = pa.RecordBatchReader.from_batches(stream.schema, stream.to_batches(max_chunksize=1))
    written = ice.write("bench", reader, "state", "GA")
    assert written["rows"] == 3 and written["partition"] == "state=GA"
    with ice.duckdb() as conn:
        rows = conn.sql(f"SELECT state, code, amount FROM {ice.scan_sql('bench')} ORDER BY state, code").fetchall()
        assert rows == [("GA", "27447", 12000.0), ("GA", "99214", 115.2), ("GA", "99215", 160.0), ("NC", "99213", 79.1)]
        # the snapshot before the re-write is still readable (time travel by metadata file)
        path = first.removeprefix("file://")
        before = conn.sql(f"SELECT count(*) FROM iceberg_scan('{path}') WHERE state = 'GA'").fetchone()
        assert before == (2,)
    table = ice.catalog().load_table(f"{ice.namespace}.bench")
    assert [f.name for f in table.spec().fields] == ["state"]
    assert table.scan(row_filter="state = 'NC'").to_arrow().num_rows == 1


def test_local_warehouse_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iceberg, "STREAM_ROWS", 2)
    round_trip(IcebergResource(catalog_uri=f"sqlite:///{tmp_path / 'cat.db'}", warehouse=str(tmp_path / "wh")))


def test_rows_outside_the_partition_write_nothing(tmp_path: Path) -> None:
    ice = IcebergResource(catalog_uri=f"sqlite:///{tmp_path / 'cat.db'}", warehouse=str(tmp_path / "wh"))
    ice.write("bench", bench("GA", {"99213": 1.0}), "state", "GA")
    with pytest.raises(ValueError, match="1 of rows 1–1 are not in partition state='GA'; nothing was committed"):
        ice.write("bench", bench("NC", {"99213": 2.0}), "state", "GA")
    mixed = pa.concat_tables([bench("GA", {"99214": 3.0}), bench("NC", {"99213": 2.0})])
    with pytest.raises(ValueError, match="1 of rows 1–2 are not in partition"):  # a stream: checked as it is read
        ice.write("bench", pa.RecordBatchReader.from_batches(mixed.schema, mixed.to_batches()), "state", "GA")
    with ice.duckdb() as conn:
        assert conn.sql(f"SELECT state, amount FROM {ice.scan_sql('bench')}").fetchall() == [("GA", 1.0)]


def test_password_in_catalog_uri_is_refused(tmp_path: Path) -> None:
    ice = IcebergResource(catalog_uri="postgresql+psycopg2://u:hunter2@127.0.0.1/db", warehouse=str(tmp_path))
    with pytest.raises(ValueError, match="must not carry a password") as info:
        ice.catalog()
    assert "hunter2" not in str(info.value)


def test_defaults_live_under_the_data_dir(tmp_path: Path) -> None:
    ice = iceberg_from_settings(Settings.from_env({"MEDICAID_DATA_DIR": str(tmp_path)}))
    assert ice.catalog_uri == f"sqlite:///{tmp_path / 'iceberg' / 'catalog.db'}"
    assert ice.warehouse == str(tmp_path / "iceberg" / "warehouse") and ice.aws_access_key_id is None


@pytest.mark.slow
def test_s3_warehouse_round_trip_on_moto(
    tmp_path: Path, s3_server: S3Server, bucket: str, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_env(
        {
            "MEDICAID_DATA_DIR": str(tmp_path),
            "MEDICAID_ICEBERG_WAREHOUSE": f"s3://{bucket}/iceberg",
            "MEDICAID_S3_ENDPOINT_URL": s3_server.endpoint_url,
            "MEDICAID_S3_REGION": "us-east-1",
        }
    )
    configured = iceberg_from_settings(settings)
    assert isinstance(configured.aws_access_key_id, dg.EnvVar)  # the keys stay in the environment
    ice = IcebergResource(
        catalog_uri=configured.catalog_uri,
        warehouse=configured.warehouse,
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region="us-east-1",
        aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
    )
    monkeypatch.setattr(iceberg, "STREAM_ROWS", 2)
    round_trip(ice)
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any("/data/state=GA/" in k for k in keys) and any(k.endswith(".metadata.json") for k in keys)

"""The scale-out warehouse (DuckLake) on loopback: a real PostgreSQL catalog, parquet on a moto S3 server.

Two OS processes replace different partitions of one table at the same time, several rounds each, through SQL
and through Dagster runs; afterwards every row is there exactly once. Commit conflicts between them (DuckLake
detects them per table) are retried, not lost.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from medicaid_assets.dagster_kit.lake import (
    LakeWarehouseResource,
    catalog_params,
    lake_warehouse_from_settings,
    replace_partition,
)
from medicaid_assets.settings import PROJECT_ROOT, Settings, child_env
from medicaid_assets_tests.dagster_kit.lake_writer import ROWS_SQL, TABLE
from medicaid_assets_tests.infra import postgres as pg
from medicaid_assets_tests.infra.conftest import S3Server


@pytest.fixture(scope="module")
def server() -> Iterator[pg.Postgres]:
    with pg.server_or_skip("postgres_admin") as running:
        yield running


@pytest.fixture
def lake_env(server: pg.Postgres, s3_server: S3Server, bucket: str, aws_env: dict[str, str]) -> dict[str, str]:
    """A fresh catalog database and data prefix, as the environment a worker machine would get."""
    db_name = f"lake_{secrets.token_hex(4)}"
    with contextlib.closing(server.connect()) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{db_name}"')
    return {
        **aws_env,
        "MEDICAID_WAREHOUSE_CATALOG_URL": f"postgresql://{server.user}@{server.host}:{server.port}/{db_name}",
        "MEDICAID_WAREHOUSE_DATA_URL": f"s3://{bucket}/lake/",
        "MEDICAID_WAREHOUSE_CATALOG_PASSWORD": server.password,
        "MEDICAID_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "MEDICAID_S3_REGION": "us-east-1",
    }


@pytest.fixture
def lake(lake_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> LakeWarehouseResource:
    """The resource as built from settings, initialized (EnvVar secrets resolved) for use outside a run."""
    for var, value in lake_env.items():
        monkeypatch.setenv(var, value)
    resource = lake_warehouse_from_settings(Settings.from_env(lake_env))
    assert resource is not None
    initialized = resource.process_config_and_initialize()
    with initialized.get_connection() as conn:
        conn.execute(f"CREATE TABLE {TABLE} (month VARCHAR, id BIGINT, amount DOUBLE, round INTEGER)")
        conn.execute(f"ALTER TABLE {TABLE} SET PARTITIONED BY (month)")
    return initialized


def run_writers(lake_env: dict[str, str], mode: str, months: list[str], rounds: int, rows: int) -> list[dict]:
    """Start one writer process per month, let them go at once, and return each one's JSON lines."""
    env = child_env(lake_env)
    command = [sys.executable, "-m", "medicaid_assets_tests.dagster_kit.lake_writer", mode]
    procs = [
        subprocess.Popen(
            [*command, month, str(rounds), str(rows)],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for month in months
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.communicate()[1][-3000:]
        for proc in procs:  # both are connected: start them together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=300) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        for secret in (lake_env["MEDICAID_WAREHOUSE_CATALOG_PASSWORD"], lake_env["AWS_SECRET_ACCESS_KEY"]):
            assert secret not in out + err
    return [[json.loads(line) for line in out.splitlines() if line.startswith("{")] for out, _ in outputs]


def partitions(lake: LakeWarehouseResource) -> dict[str, tuple]:
    with lake.get_connection() as conn:
        rows = conn.execute(
            f"SELECT month, count(*), count(DISTINCT id), min(id), max(id), min(round), max(round), sum(amount) "
            f"FROM {TABLE} GROUP BY month ORDER BY month"
        ).fetchall()
    return {month: tuple(rest) for month, *rest in rows}


def overlapped(reports: list[dict]) -> bool:
    return max(r["started"] for r in reports) < min(r["ended"] for r in reports)


@pytest.mark.slow
def test_two_processes_replace_different_partitions_at_once_and_nothing_is_lost(
    lake: LakeWarehouseResource, lake_env: dict[str, str]
) -> None:
    rounds, rows = 6, 20_000
    reports = [lines[-1] for lines in run_writers(lake_env, "sql", ["2024-01", "2024-02"], rounds, rows)]
    assert overlapped(reports)
    amount = sum(range(rows)) * 0.5
    expected = (rows, rows, 0, rows - 1, rounds - 1, rounds - 1, amount)
    assert partitions(lake) == {"2024-01": expected, "2024-02": expected}
    conflicts = [c for r in reports for c in r["conflicts"]]
    print(f"{len(conflicts)} commit conflict(s) retried over {2 * rounds} replacements")
    assert all("conflict" in c.lower() for c in conflicts)

    # Every round is one snapshot of the lake; the last one of each writer is what readers see.
    with lake.get_connection() as conn:
        inserts = conn.execute(
            "SELECT count(*) FROM lake.snapshots() WHERE changes::VARCHAR LIKE '%tables_inserted_into%'"
        ).fetchone()
        assert inserts is not None and inserts[0] >= 2 * rounds

        # Re-writing one partition replaces exactly its rows; the other is untouched.
        inserted = lake.replace_partition(conn, TABLE, "month", "2024-01", ROWS_SQL, ["2024-01", 99, 10])
        assert inserted == 10
    assert partitions(lake) == {"2024-01": (10, 10, 0, 9, 99, 99, 22.5), "2024-02": expected}

    # Rows outside the partition are refused and nothing changes.
    with lake.get_connection() as conn, pytest.raises(ValueError, match="not in partition"):
        replace_partition(conn, TABLE, "month", "2024-01", ROWS_SQL, ["2024-02", 7, 5])
    assert partitions(lake) == {"2024-01": (10, 10, 0, 9, 99, 99, 22.5), "2024-02": expected}


@pytest.mark.slow
def test_two_dagster_runs_materialize_different_partitions_at_once(
    lake: LakeWarehouseResource, lake_env: dict[str, str]
) -> None:
    rounds, rows = 3, 5_000
    outputs = run_writers(lake_env, "dagster", ["2024-02", "2024-03"], rounds, rows)
    assert overlapped([lines[-1] for lines in outputs])
    for lines in outputs:
        metadata = [line["metadata"] for line in lines[:-1]]
        assert [m["rows"] for m in metadata] == [str(rows)] * rounds
    expected = (rows, rows, 0, rows - 1, rounds - 1, rounds - 1, sum(range(rows)) * 0.5)
    assert partitions(lake) == {"2024-02": expected, "2024-03": expected}


@pytest.mark.slow
def test_secrets_stay_out_of_reprs_urls_and_errors(lake: LakeWarehouseResource, lake_env: dict[str, str]) -> None:
    password, aws_secret = lake_env["MEDICAID_WAREHOUSE_CATALOG_PASSWORD"], lake_env["AWS_SECRET_ACCESS_KEY"]
    assert lake.catalog_password == password  # resolved from the environment ...
    assert password not in repr(lake) and aws_secret not in repr(lake)  # ... but never shown
    unresolved = lake_warehouse_from_settings(Settings.from_env(lake_env))
    assert password not in repr(unresolved) and aws_secret not in repr(unresolved)
    with lake.get_connection() as conn:
        shown = " ".join(str(row) for row in conn.execute("SELECT * FROM duckdb_secrets()").fetchall())
    assert password not in shown and aws_secret not in shown
    with pytest.raises(ValueError, match="must not carry a password") as refused:
        catalog_params(f"postgresql://postgres:{password}@127.0.0.1:5432/lake")
    assert password not in str(refused.value)
    wrong = lake.model_copy(update={"catalog_password": "wrong-" + password})
    with pytest.raises(duckdb.Error) as failed, wrong.get_connection():
        pass
    assert password not in str(failed.value)


def test_embedded_duckdb_file_stays_the_default(tmp_path: Path) -> None:
    assert lake_warehouse_from_settings(Settings.from_env({"MEDICAID_DATA_DIR": str(tmp_path)})) is None
    with pytest.raises(ValueError, match="MEDICAID_WAREHOUSE_DATA_URL"):
        lake_warehouse_from_settings(Settings.from_env({"MEDICAID_WAREHOUSE_CATALOG_URL": "postgresql://u@h/db"}))
    assert catalog_params("postgresql://ducks@db.example:6543/lake?sslmode=require") == (
        "host=db.example port=6543 user=ducks dbname=lake sslmode=require"
    )
    assert isinstance(dg.Definitions(resources={"lake": LakeWarehouseResource(catalog_url="x", data_url="y")}), object)

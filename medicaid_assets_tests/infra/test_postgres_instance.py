"""The main job on a Dagster instance stored in a real PostgreSQL server (deploy/dagster.postgres.yaml)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.settings import PROJECT_ROOT, child_env
from medicaid_assets_tests.infra import postgres as pg

pytestmark = pytest.mark.slow
PROFILE = PROJECT_ROOT / "deploy" / "dagster.postgres.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[pg.Postgres]:
    reason = pg.available()
    if reason:
        pytest.skip(f"no PostgreSQL server here: {reason}")
    with pg.postgres_server("dagster") as running:
        yield running


def instance_env(server: pg.Postgres) -> dict[str, str]:
    return {
        "DAGSTER_PG_HOST": server.host,
        "DAGSTER_PG_PORT": str(server.port),
        "DAGSTER_PG_USER": server.user,
        "DAGSTER_PG_PASSWORD": server.password,
        "DAGSTER_PG_DB": server.db_name,
    }


def query(server: pg.Postgres, sql: str) -> list[tuple]:
    with contextlib.closing(server.connect()) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_demo_runs_store_runs_events_and_partitions_in_postgres(
    tmp_path: Path, server: pg.Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROFILE, home / "dagster.yaml")
    env = child_env({"MEDICAID_DATA_DIR": str(tmp_path / "data"), **instance_env(server)})
    result = subprocess.run(
        [sys.executable, "-m", "medicaid_assets.cli", "demo", "--dagster-home", str(home)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "6 run(s) succeeded" in result.stdout  # the main job as three runs (see ranged_runs), three weeklies
    assert server.password not in result.stdout + result.stderr

    # Everything went to PostgreSQL: nothing of the instance was written as SQLite files in DAGSTER_HOME.
    assert sorted(p.name for p in home.iterdir() if p.suffix == ".db" or p.name in ("history", "schedules")) == []
    runs = query(server, "SELECT pipeline_name, status FROM runs ORDER BY create_timestamp")
    assert runs[:3] == [("medicaid_pipeline", "SUCCESS")] * 3
    assert [r for r in runs[3:] if r != ("nppes_weekly_job", "SUCCESS")] == [] and len(runs) == 6
    events = dict(query(server, "SELECT dagster_event_type, count(*) FROM event_logs GROUP BY 1"))
    assert (
        events["PIPELINE_SUCCESS"] == 6 and events["ASSET_MATERIALIZATION"] > 20
    )  # RUN_SUCCESS, stored by its old name
    keys = {k for (k,) in query(server, "SELECT asset_key FROM asset_keys")}
    assert '["outputs", "npi_dataset"]' in keys and '["warehouse", "spending"]' in keys
    weeklies = query(server, "SELECT count(*) FROM dynamic_partitions WHERE partitions_def_name = 'nppes_weekly'")
    assert weeklies == [(3,)]

    # The same profile read back through Dagster sees the same history (as the webserver and daemon would).
    for key, value in instance_env(server).items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert sorted(r.job_name for r in instance.get_runs()) == ["medicaid_pipeline"] * 3 + ["nppes_weekly_job"] * 3
        assert all(server.password not in str(r.run_config) for r in instance.get_runs())

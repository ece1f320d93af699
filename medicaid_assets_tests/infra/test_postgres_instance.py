"""The main job on a Dagster instance stored in a real PostgreSQL server (deploy/dagster.postgres.yaml)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.defs.medicaid_spending.keys import SPENDING, monthly_partitions
from medicaid_assets.defs.reference.nppes.keys import WEEKLY_UPDATE
from medicaid_assets.settings import PROJECT_ROOT, child_env
from medicaid_assets_tests.infra import postgres as pg
from medicaid_assets_tests.support.cli import SUCCEEDED, run_cli_ok

pytestmark = pytest.mark.slow
PROFILE = PROJECT_ROOT / "deploy" / "dagster.postgres.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[pg.Postgres]:
    with pg.server_or_skip("dagster") as running:
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
    result = run_cli_ok(["demo"], home, env)
    assert SUCCEEDED.search(result.stdout)
    assert server.password not in result.stdout + result.stderr

    # Everything went to PostgreSQL: nothing of the instance was written as SQLite files in DAGSTER_HOME.
    assert sorted(p.name for p in home.iterdir() if p.suffix == ".db" or p.name in ("history", "schedules")) == []
    runs = query(server, "SELECT pipeline_name, status FROM runs ORDER BY create_timestamp")
    # Every family's runs (the main job's, then the weeklies the sensor found); every one succeeded, and its success
    # was stored.
    assert {status for _, status in runs} == {"SUCCESS"}
    assert {"medicaid_pipeline", "nppes_weekly_job", "medicaid_marts_job", "synthetic_medicare"} <= {j for j, _ in runs}
    assert runs.index(("nppes_weekly_job", "SUCCESS")) > max(
        i for i, r in enumerate(runs) if r[0] == "medicaid_pipeline"
    )
    events = dict(query(server, "SELECT dagster_event_type, count(*) FROM event_logs GROUP BY 1"))
    assert (
        events["PIPELINE_SUCCESS"] == len(runs) and events["ASSET_MATERIALIZATION"] > 20
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
        assert sorted((r.job_name, r.status.value) for r in instance.get_runs()) == sorted(runs)
        assert instance.get_materialized_partitions(SPENDING) == set(monthly_partitions.get_partition_keys())
        assert len(instance.get_materialized_partitions(WEEKLY_UPDATE)) == 3
        assert all(server.password not in str(r.run_config) for r in instance.get_runs())

"""The main job on a Dagster instance stored in a real PostgreSQL server (deploy/dagster.postgres.yaml)."""

from __future__ import annotations

import contextlib

import dagster as dg
import pytest

from medicaid_assets.defs.medicaid_spending.keys import SPENDING, monthly_partitions
from medicaid_assets.defs.reference.nppes.keys import WEEKLY_UPDATE
from medicaid_assets_tests.infra import postgres as pg
from medicaid_assets_tests.infra.conftest import InfraDemo
from medicaid_assets_tests.support.cli import SUCCEEDED

pytestmark = pytest.mark.slow


def query(server: pg.Postgres, sql: str) -> list[tuple]:
    with contextlib.closing(server.connect()) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_demo_runs_store_runs_events_and_partitions_in_postgres(
    infra_demo: InfraDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo of ``infra_demo`` (with object storage too: test_storage_assets reads the bucket it filled)."""
    server, home, result = infra_demo.postgres, infra_demo.home, infra_demo.result
    if server is None:
        pytest.skip(f"no PostgreSQL server here: {infra_demo.postgres_unavailable}")
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
    for key, value in server.instance_env().items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert sorted((r.job_name, r.status.value) for r in instance.get_runs()) == sorted(runs)
        assert instance.get_materialized_partitions(SPENDING) == set(monthly_partitions.get_partition_keys())
        assert len(instance.get_materialized_partitions(WEEKLY_UPDATE)) == 3
        assert all(server.password not in str(r.run_config) for r in instance.get_runs())

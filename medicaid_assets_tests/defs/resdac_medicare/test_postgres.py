"""The PostgreSQL target: the family's tables copied to a real local server, SELECT granted to the read role."""

import dagster as dg
import duckdb
import pytest

from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.resdac_medicare.jobs import FULL_REFRESH_TAGS
from medicaid_assets.defs.resdac_medicare.keys import POSTGRES, TABLES
from medicaid_assets.settings import RESDAC_POSTGRES_PASSWORD_VAR, Settings
from medicaid_assets_tests.defs.resdac_medicare.support import FAMILY
from medicaid_assets_tests.infra.postgres import server_or_skip


@pytest.mark.slow
def test_the_tables_reach_postgres_and_the_read_role_can_select_them(tmp_path, delivery, monkeypatch):
    input_dir, world = delivery
    with server_or_skip("resdac") as pg:
        with pg.connect() as admin, admin.cursor() as cur:
            cur.execute("CREATE ROLE researchers NOLOGIN")
        monkeypatch.setenv(RESDAC_POSTGRES_PASSWORD_VAR, pg.password)
        settings = Settings.from_env(
            {
                "MEDICAID_DATA_DIR": str(tmp_path / "data"),
                "MEDICAID_RESDAC_INPUT_DIR": str(input_dir),
                "MEDICAID_RESDAC_POSTGRES_URL": f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.db_name}",
                RESDAC_POSTGRES_PASSWORD_VAR: pg.password,
                "MEDICAID_RESDAC_READ_ROLE": "researchers",
            }
        )
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                FAMILY, resources=build_resources(settings), instance=instance, tags=FULL_REFRESH_TAGS
            )
            assert POSTGRES in {e.asset_key for e in result.get_asset_materialization_events()}
            logs = " ".join(str(e.message) for e in instance.all_logs(result.run_id))
            assert pg.password not in logs
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as local:
            expected = {t: local.execute(f"SELECT count(*) FROM resdac_medicare.{t}").fetchone()[0] for t in TABLES}
        with pg.connect() as conn, conn.cursor() as cur:
            found = {}
            for table in TABLES:
                cur.execute(f"SELECT count(*) FROM resdac_medicare.{table}")
                found[table] = cur.fetchone()[0]
                cur.execute("SELECT has_table_privilege('researchers', %s, 'SELECT')", [f"resdac_medicare.{table}"])
                assert cur.fetchone()[0], table
            assert found == expected
            cur.execute("SELECT reason, count(*) FROM resdac_medicare.admissions_audit GROUP BY reason")
            assert dict(cur.fetchall())["DUPLICATE"] == world["expected"]["duplicate"]
            cur.execute("SELECT diagnosis FROM resdac_medicare.admissions WHERE cardinality(diagnosis) > 1 LIMIT 1")
            assert isinstance(cur.fetchone()[0], list)  # diagnoses stay an array in PostgreSQL

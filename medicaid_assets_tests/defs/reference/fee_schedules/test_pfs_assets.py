"""The physician fee schedule assets and sensor against the sample world's CMS page and release zips."""

from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb

from medicaid_assets.definitions import build_definitions, build_resources
from medicaid_assets.defs.reference.fee_schedules.keys import (
    PFS_AMOUNTS,
    PFS_NATIONAL,
    PFS_RELEASE,
    PFS_STATE_AMOUNTS,
    pfs_release_partitions,
)
from medicaid_assets.defs.reference.fee_schedules.pfs_sensors import pfs_release_job, pfs_release_sensor
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.pfs_release import RELEASES
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets.settings import Settings

RELEASE = "2026Q4"


def _materialize(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    defs = build_definitions(settings)
    job = defs.resolve_job_def(pfs_release_job.name)
    return job.execute_in_process(instance=instance, partition_key=RELEASE, raise_on_error=False)


def _stored(settings: Settings, key: dg.AssetKey) -> Path:
    return DataLayout(settings.data_dir).assets / "/".join(key.path) / f"{RELEASE}.parquet"


def test_release_is_discovered_downloaded_priced_and_reused(settings: Settings, world: WorldControl) -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(pfs_release_partitions.name, [RELEASE])
        result = _materialize(settings, instance)
        assert result.success
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks == {"one_row_per_code_modifier_locality": True, "opps_cap_matches_published": True}
        paths = [r["path"] for r in world.requests()]
        assert any(p.endswith("pfs-relative-value-files") for p in paths)
        assert any(p.endswith("rvu26d-updated-10-30-2026.zip") for p in paths)  # the quarter's zip, not Q3's

        amounts = str(_stored(settings, PFS_AMOUNTS))
        (al,) = duckdb.sql(
            f"SELECT non_facility_amount, non_facility_limiting_charge, state FROM '{amounts}' "
            "WHERE hcpcs_code = '99213' AND modifier = '' AND carrier = '10112' AND locality = '00'"
        ).fetchall()
        assert al == (Decimal("81.86"), Decimal("89.43"), "AL")
        statuses, localities = duckdb.sql(
            f"SELECT list(DISTINCT status ORDER BY status), count(DISTINCT (carrier, locality)) FROM '{amounts}'"
        ).fetchone()
        assert set(statuses) <= {"A", "R", "T"} and localities == 109
        (national,) = duckdb.sql(
            f"SELECT non_facility_amount FROM '{_stored(settings, PFS_STATE_AMOUNTS)}' "
            f"WHERE hcpcs_code = '99213' AND modifier = '' AND state = '{PFS_NATIONAL}'"
        ).fetchone()
        assert national == Decimal("88.95")
        state_event = instance.get_latest_materialization_event(PFS_STATE_AMOUNTS)
        assert "chart" in state_event.asset_materialization.metadata

        world.clear_requests()
        again = _materialize(settings, instance)
        assert again.success
        assert not [r for r in world.requests() if r["path"].endswith(".zip") or "relative-value" in r["path"]]
        release_event = instance.get_latest_materialization_event(PFS_RELEASE)
        assert release_event.asset_materialization.metadata["pprrvu"].value == "PPRRVU2026_Oct.csv"


def test_sensor_adds_each_release_once(settings: Settings, world: WorldControl) -> None:
    resources = build_resources(settings)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        result = pfs_release_sensor(context)
        assert [r.partition_key for r in result.run_requests] == [key for key, _, _ in RELEASES]
        assert result.dynamic_partitions_requests[0].partition_keys == [key for key, _, _ in RELEASES]
        instance.add_dynamic_partitions(pfs_release_partitions.name, [key for key, _, _ in RELEASES])
        again = pfs_release_sensor(
            dg.build_sensor_context(instance=instance, resources=resources, cursor=result.cursor)
        )
        assert isinstance(again, dg.SkipReason)

"""The main job under Dagster's default multiprocess executor: parallel steps, one DuckDB writer at a time."""

from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.urls import world_env
from medicaid_assets.settings import Settings

# Three months are enough to run every step; over all 84, Dagster would plan each of the job's assets for
# every month (~1,400 events written by each of the step processes' runs) with nothing more to show.
LAST_MONTHS = {"dagster/asset_partition_range_start": "2024-10-01", "dagster/asset_partition_range_end": "2024-12-01"}


# Step processes fork from a server that has imported the project once (spawning each costs seconds of imports).
FORKSERVER = {
    "execution": {
        "config": {
            "multiprocess": {"start_method": {"forkserver": {"preload_modules": ["medicaid_assets.definitions"]}}}
        }
    }
}


def pipeline_job() -> dg.JobDefinition:
    """Rebuilt in every step process from the environment, as a code server would."""
    return build_definitions(Settings.from_env()).resolve_job_def(main_job.name)


@pytest.mark.slow
def test_main_job_runs_in_parallel_processes_without_duckdb_lock_errors(
    tmp_path: Path, world_server: WorldServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {**world_env(world_server.base_url), "MEDICAID_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(key, value)
    overrides = {"concurrency": {"pools": {"default_limit": 1}}}
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home"), overrides=overrides) as instance:
        result = dg.execute_job(
            dg.reconstructable(pipeline_job),
            instance=instance,
            tags=LAST_MONTHS,
            run_config=FORKSERVER,
            raise_on_error=False,
        )
        events = instance.all_logs(result.run_id)
    failures = [e for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_FAILURE"]
    assert result.success, [f.dagster_event.step_failure_data.error.to_string() for f in failures]
    starts = [e for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"]
    assert len({e.dagster_event.pid for e in starts}) > 1  # steps ran in processes of their own
    assert not any("Could not set lock" in (e.user_message or "") for e in events)
    keys = {
        e.dagster_event.asset_key.to_user_string()
        for e in events
        if e.dagster_event and e.dagster_event.is_step_materialization
    }
    assert {"resolution/npi_cache", "resolution/hcpcs_cache", "outputs/npi_dataset"} <= keys

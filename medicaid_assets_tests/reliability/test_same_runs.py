"""The CLI and the UI launch the same runs: the main job started through the instance (as the UI's Materialize does:
code server, run worker) materializes exactly what the CLI's ``download`` + ``build-datasets`` materialized,
partition for partition, and writes the same outputs (those the weekly bundles leave alone).

The run worker executes its steps in its own process (the in-process executor, as ``test_concurrency`` runs the main
job): what is compared here is what the launched run materializes, which the executor does not change, and a
process per step would add ~5 s for each of its ~32 steps. The multiprocess executor is covered by
``defs/medicaid_spending/test_multiprocess.py`` and, for a launched run, by ``test_terminate``."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.cli.runner import full_range_tags
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.keys import SPENDING
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.settings import Settings
from medicaid_assets_tests.reliability.harness import check_state, new_home, outputs
from medicaid_assets_tests.reliability.launched import JOB, launcher, step_failures

pytestmark = pytest.mark.slow
# What the CLI's --requests-per-second 0 --concurrency 4 set, as run config of the API resources.
FAST_APIS = {"requests_per_second": 0, "concurrency": 4}
IN_PROCESS = {"in_process": {}}


def materialized(home: Path) -> dict[dg.AssetKey, set[str] | None]:
    """Each asset materialized in the instance at ``home``: its partitions, or None when it is not partitioned."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        found: dict[dg.AssetKey, set[str] | None] = {}
        for key in instance.get_asset_keys():
            if instance.get_latest_materialization_event(key) is None:
                continue
            partitions = instance.get_materialized_partitions(key)
            found[key] = partitions or None
        return found


def test_a_run_launched_through_the_instance_materializes_what_the_cli_did(
    reference, rel_server: WorldServer, tmp_path: Path
) -> None:
    data, home = tmp_path / "data", new_home(tmp_path / "home")
    world = settings_for_world(Settings.from_env(), rel_server.base_url)
    resources = {
        "npi_registry": {"config": {"base_url": world.npi_api_url, **FAST_APIS}},
        "clinical_tables_api": {"config": {"base_url": world.hcpcs_api_url, **FAST_APIS}},
    }
    with launcher(data, home, rel_server.base_url) as launch:
        run_id = launch.submit(
            tags=full_range_tags(), run_config={"resources": resources, "execution": {"config": IN_PROCESS}}
        )
        launch.start(run_id)
        run = launch.wait(run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS, step_failures(launch.instance, run_id)

    # The CLI's download also applied the weekly bundles (their own job): compare the main job's assets.
    keys = build_definitions(Settings.from_env()).resolve_job_def(JOB).asset_layer.selected_asset_keys
    by_cli, by_ui = materialized(reference.home), materialized(home)
    assert set(by_ui) == set(keys)
    assert by_ui == {key: by_cli.get(key) for key in keys}
    assert by_ui[SPENDING]  # the spending months, partition by partition
    assert check_state(data, finished=True) == []
    # Every output is the same but the NPI mapping and dataset, which the weekly bundles (applied by the CLI's
    # download in their own job, not the main job) updated.
    weekly = {"npi_mapping", "npi"}
    ours = outputs(data, rel_server.base_url)
    assert set(ours) == set(reference.outputs)
    assert {k: v for k, v in ours.items() if k not in weekly} == {
        k: v for k, v in reference.outputs.items() if k not in weekly
    }

"""The moto S3 server and throwaway AWS credentials, shared with the infra tests; the sourced data dir the
resolution tests start from."""

from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.cli.download import SOURCES
from medicaid_assets.cli.runner import Runner, full_range_tags
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.settings import Settings
from medicaid_assets_tests.infra.conftest import aws_env, bucket, s3_server  # noqa: F401


@pytest.fixture(scope="package")
def sourced(tmp_path_factory: pytest.TempPathFactory, world_server: WorldServer) -> Path:
    """A data dir with every source downloaded and loaded (spending, NPPES monthly + weeklies, CPT fallback), made
    once for the package's modules: a test copies it before changing it."""
    data = tmp_path_factory.mktemp("sourced") / "data"
    settings = settings_for_world(Settings.from_env({"MEDICAID_DATA_DIR": str(data)}), world_server.base_url)
    with dg.instance_for_test() as instance:
        runner = Runner(build_definitions(settings), instance, quiet=True, split_ranges=True)
        assert runner.run(main_job.name, SOURCES, tags=full_range_tags())
        assert runner.apply_new_weeklies()
        assert [r.dagster_run.job_name for r in runner.results].count("nppes_weekly_job") == 3
    return data

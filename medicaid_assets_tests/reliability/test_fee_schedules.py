"""Fee schedules under a faulty server and hostile files: retried downloads give the same tables; a page where a
workbook should be, or a release the page no longer lists, fails the step clearly and keeps what was there."""

from __future__ import annotations

import dataclasses

import dagster as dg
import polars as pl
import pytest

from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.reference.fee_schedules import keys
from medicaid_assets.defs.reference.fee_schedules.opps_assets import opps_addenda, opps_hcpcs_rates
from medicaid_assets.defs.reference.fee_schedules.workers_comp.assets import wc_fee_schedules, wc_maximums
from medicaid_assets.sample_world.server import Faults, WorldControl
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.events import failure_text
from medicaid_assets_tests.support.pipeline import QUICK_RETRY_FILES

OPPS = [opps_addenda, opps_hcpcs_rates]
RATE = 0.3


def seed_faulting_the_first_zip(kind: str) -> int:
    """A seed whose faults hit exactly the second request of the run (the first zip after the page), once."""
    for seed in range(1, 10_000):
        faults = Faults(rate=RATE, kinds=(kind,), scope="files", seed=seed)
        if [faults.pick(seq, "files") is not None for seq in range(1, 9)] == [False, True, *[False] * 6]:
            return seed
    raise AssertionError("no such seed")


def _table(settings: Settings) -> pl.DataFrame:
    return pl.read_parquet(settings.data_dir / "assets" / "fee_schedules" / "opps_hcpcs_rates" / "2025Q1.parquet")


@pytest.mark.parametrize("kind", ["429", "503", "drop", "truncate"])
def test_release_download_survives_faults(
    settings: Settings, world: WorldControl, tmp_path_factory: pytest.TempPathFactory, kind: str
) -> None:
    clean = dataclasses.replace(settings, data_dir=tmp_path_factory.mktemp("clean") / "data")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(keys.opps_releases.name, ["2025Q1"])
        assert dg.materialize(OPPS, partition_key="2025Q1", resources=build_resources(clean), instance=instance).success
        world.set_faults(rate=RATE, kinds=[kind], scope="files", seed=seed_faulting_the_first_zip(kind))
        resources = {**build_resources(settings), "files": QUICK_RETRY_FILES}
        assert dg.materialize(OPPS, partition_key="2025Q1", resources=resources, instance=instance).success
    assert any(e.get("fault") == kind for e in world.requests())
    assert _table(settings).equals(_table(clean))


def test_html_where_a_workbook_should_be_is_refused_and_nothing_is_written(settings: Settings) -> None:
    # The state's URL answers with a web page (a moved file, a login wall): 200, text/html.
    hostile = dataclasses.replace(settings, wc_fee_schedule_urls=(f"GA={settings.opps_addenda_url}",))
    result = dg.materialize(
        [wc_fee_schedules, wc_maximums], partition_key="GA", resources=build_resources(hostile), raise_on_error=False
    )
    assert not result.success and "html" in failure_text(result).lower()
    assert not (settings.data_dir / "assets" / "fee_schedules" / "wc_maximums").exists()

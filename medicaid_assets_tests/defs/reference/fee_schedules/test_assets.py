"""Fee-schedule releases found on the sample world's CMS pages by the sensors, downloaded and parsed as partitions;
the two workers'-comp states read from the files they post."""

from __future__ import annotations

import dataclasses

import dagster as dg
import polars as pl
import pytest

from medicaid_assets.definitions import build_definitions, build_resources
from medicaid_assets.defs.reference.fee_schedules import keys
from medicaid_assets.defs.reference.fee_schedules.asc_assets import asc_addenda, asc_rates, asc_release_sensor
from medicaid_assets.defs.reference.fee_schedules.opps_assets import (
    opps_addenda,
    opps_apc_rates,
    opps_hcpcs_rates,
    opps_release_sensor,
)
from medicaid_assets.defs.reference.fee_schedules.workers_comp.assets import state_urls, wc_fee_schedules, wc_maximums
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.events import failure_text


def stored(settings: Settings, key: dg.AssetKey, partition: str) -> pl.DataFrame:
    return pl.read_parquet(settings.data_dir / "assets" / key.path[0] / key.path[1] / f"{partition}.parquet")


def test_sensors_add_each_listed_release_once(settings: Settings, world: WorldControl) -> None:
    resources = build_resources(settings)
    with dg.instance_for_test() as instance:
        for sensor, partitions, listed in (
            (opps_release_sensor, keys.opps_releases, ["2024Q4", "2025Q1"]),
            (asc_release_sensor, keys.asc_releases, ["2025Q1", "2025Q4", "2026Q1"]),
        ):
            context = dg.build_sensor_context(instance=instance, resources=resources)
            result = sensor(context)
            assert [r.partition_key for r in result.run_requests] == listed
            assert [r.run_key for r in result.run_requests] == listed
            instance.add_dynamic_partitions(partitions.name, listed)
            again = sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=result.cursor))
            assert isinstance(again, dg.SkipReason)
    pages = [e["path"] for e in world.requests()]
    assert len(pages) == 4 and all("addend" in p for p in pages)  # one GET per tick, nothing downloaded


@pytest.mark.slow
def test_releases_download_and_parse_as_partitions(settings: Settings, world: WorldControl) -> None:
    resources = build_resources(settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(keys.opps_releases.name, ["2024Q4", "2025Q1"])
        instance.add_dynamic_partitions(keys.asc_releases.name, ["2026Q1"])
        opps = [opps_addenda, opps_apc_rates, opps_hcpcs_rates]
        for release in ("2024Q4", "2025Q1"):
            assert dg.materialize(opps, partition_key=release, resources=resources, instance=instance).success
        assert dg.materialize(
            [asc_addenda, asc_rates], partition_key="2026Q1", resources=resources, instance=instance
        ).success
        b = stored(settings, keys.OPPS_HCPCS_RATES, "2025Q1")
        knee = b.filter(pl.col("hcpcs") == "27447").row(0, named=True)
        assert (knee["release"], knee["apc"], knee["payment_rate"]) == ("2025Q1", "5115", 12866.82)
        assert (
            stored(settings, keys.OPPS_HCPCS_RATES, "2024Q4").filter(pl.col("hcpcs") == "27447")["payment_rate"][0]
            == 12480.82
        )
        a = stored(settings, keys.OPPS_APC_RATES, "2025Q1")
        assert a.filter(pl.col("apc") == "0701")["payment_rate"][0] == 4146.335
        aa = stored(settings, keys.ASC_RATES, "2026Q1")
        assert aa.filter(pl.col("hcpcs") == "0102T")["payment_rate"][0] == 1644.87  # the real "$1,644.87 "
        assert aa.filter(pl.col("hcpcs") == "G0105")["marker"][0] == "**"
        # a re-run with nothing new downloads nothing (only the page is asked again)
        world.clear_requests()
        assert dg.materialize(opps[:1], partition_key="2025Q1", resources=resources, instance=instance).success
        assert [e["path"].rsplit("/", 1)[-1] for e in world.requests() if e["path"].endswith(".zip")] == []


@pytest.mark.slow
def test_workers_comp_states_from_their_files(settings: Settings) -> None:
    resources = build_resources(settings)
    with dg.instance_for_test() as instance:
        for state in ("GA", "NC"):
            result = dg.materialize(
                [wc_fee_schedules, wc_maximums], partition_key=state, resources=resources, instance=instance
            )
            assert result.success
        ga = stored(settings, keys.WC_MAXIMUMS, "GA")
        assert ga.filter((pl.col("code") == "00100") & (pl.col("setting") == "anesthesia"))["base_units"][0] == 5.0
        assert ga.filter((pl.col("code") == "27447") & (pl.col("setting") == "asc"))["max_amount"][0] == 16262.19
        assert set(ga["schedule_year"]) == {2024}
        nc = stored(settings, keys.WC_MAXIMUMS, "NC")
        assert nc.filter((pl.col("code") == "45378") & (pl.col("modifier") == "53")).height == 2


def test_missing_state_url_fails_naming_the_variable(settings: Settings) -> None:
    resources = build_resources(dataclasses.replace(settings, wc_fee_schedule_urls=()))
    result = dg.materialize([wc_fee_schedules], partition_key="GA", resources=resources, raise_on_error=False)
    assert "add GA=<url> to MEDICAID_WC_FEE_SCHEDULE_URLS" in failure_text(result)
    with pytest.raises(ValueError, match="not STATE=http"):
        state_urls(["GA:https://x"])


def test_definitions_list_the_fee_schedule_jobs(settings: Settings) -> None:
    defs = build_definitions(settings)
    names = {j.name for j in defs.jobs or []}
    assert {"opps_release_job", "asc_release_job", "wc_fee_schedule_job"} <= names

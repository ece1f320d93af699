"""A job over a partition range runs as before / over / after the partitioned assets (fewer planned events)."""

import dagster as dg

from medicaid_assets.cli.runner import full_range_tags
from medicaid_assets.dagster_kit.ranged_runs import RANGE_TAGS, ranged_parts
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.settings import Settings

SPENDING = dg.AssetKey(["warehouse", "spending"])


def _main_job(tmp_path) -> dg.JobDefinition:
    defs = build_definitions(Settings.from_env({"MEDICAID_DATA_DIR": str(tmp_path)}))
    return defs.resolve_job_def(main_job.name)


def test_the_main_job_over_every_month_is_three_runs_and_only_the_middle_one_carries_the_range(tmp_path) -> None:
    job = _main_job(tmp_path)
    parts = ranged_parts(job, {**full_range_tags(), "owner": "me"})
    assert [keys == {SPENDING} for keys, _ in parts] == [False, True, False]
    (before, plain), (_, ranged), (after, plain_after) = parts
    assert all(tag in ranged for tag in RANGE_TAGS) and ranged["owner"] == "me"
    assert not any(tag in plain or tag in plain_after for tag in RANGE_TAGS) and plain["owner"] == "me"
    everything = set(job.asset_layer.selected_asset_keys)
    assert before | {SPENDING} | after == everything and not before & after
    graph = job.asset_layer.asset_graph
    downstream = dg.AssetSelection.assets(SPENDING).downstream().resolve(graph)
    assert after == downstream - {SPENDING} and not before & downstream
    assert dg.AssetKey(["resolution", "dataset_npis"]) in after


def test_without_a_range_or_without_partitioned_assets_it_stays_one_run(tmp_path) -> None:
    job = _main_job(tmp_path)
    assert ranged_parts(job, {}) == [(None, {})]
    unpartitioned = job.get_subset(asset_selection={dg.AssetKey(["raw", "medicaid_spending_file"])})
    assert ranged_parts(unpartitioned, full_range_tags()) == [(None, full_range_tags())]

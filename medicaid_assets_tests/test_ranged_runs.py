"""A job over a partition range runs as before / over / after the partitioned assets (fewer planned events)."""

import dagster as dg
import duckdb
import pytest

from medicaid_assets.cli.runner import SAMPLE_WORLD_API, Runner, full_range_tags
from medicaid_assets.dagster_kit.ranged_runs import RANGE_TAGS, ranged_parts
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.medicaid_spending.keys import (
    FEE_INDEX,
    MARTS_GROUP,
    SPENDING_ENRICHED,
    SPENDING_ENRICHED_TABLE,
    monthly_partitions,
)
from medicaid_assets.defs.medicaid_spending.marts import marts_job
from medicaid_assets.defs.resdac_medicare.jobs import FULL_REFRESH_TAGS as RESDAC_RANGE
from medicaid_assets.defs.resdac_medicare.jobs import resdac_job
from medicaid_assets.defs.resdac_medicare.keys import RAW as RESDAC_RAW
from medicaid_assets.defs.synthetic_medicare.jobs import ALL_FILE_TYPES_TAGS, synthetic_medicare_job
from medicaid_assets.defs.synthetic_medicare.keys import DOWNLOADS, LANDED, model_key
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


def test_any_partitions_split_and_one_ops_assets_stay_in_one_part(tmp_path) -> None:
    """File types (static) and family × year (multi) split like the months; dbt's seed is not run apart from its
    models (one dbt start, after the landing)."""
    defs = build_definitions(Settings.from_env({"MEDICAID_DATA_DIR": str(tmp_path)}))
    job = defs.resolve_job_def(synthetic_medicare_job.name)
    (before, plain), (over, ranged), (after, _) = ranged_parts(job, ALL_FILE_TYPES_TAGS)
    assert before == {DOWNLOADS} and over == {LANDED} and ranged == ALL_FILE_TYPES_TAGS and not plain
    dbt = job.asset_layer.asset_graph.get(model_key("dim_beneficiary")).assets_def.keys
    assert len(dbt) > 10 and dbt <= after and after | before | over == set(job.asset_layer.selected_asset_keys)

    resdac = defs.resolve_job_def(resdac_job.name)
    parts = ranged_parts(resdac, RESDAC_RANGE)
    assert len(parts) > 1 and [k for k, part_tags in parts if RANGE_TAGS[0] in part_tags] == [{RESDAC_RAW}]


@pytest.mark.slow
def test_runner_splits_file_type_and_mart_month_ranges_and_narrows_only_the_spending_months(
    settings: Settings,
) -> None:
    """Real runs on the sample world: the synthetic release over every file type (one dbt start), then the marts
    over every month after the spending table is current (its months are not the spending table's to skip)."""
    with dg.instance_for_test() as instance:
        runner = Runner(build_definitions(settings, api=SAMPLE_WORLD_API), instance, quiet=True, split_ranges=True)
        assert runner.run(synthetic_medicare_job.name, tags=ALL_FILE_TYPES_TAGS)
        done = [{e.asset_key for e in r.get_asset_materialization_events()} for r in runner.results]
        assert done[0] == {DOWNLOADS} and done[1] == {LANDED} and model_key("dim_beneficiary") in done[2]
        assert len(runner.results) == 3 and all(RANGE_TAGS[0] not in r.dagster_run.tags for r in runner.results[::2])

        assert runner.run(main_job.name, tags=full_range_tags())
        runner.results.clear()
        # (the fee index also needs the physician fee schedule, which this test does not load)
        marts = dg.AssetSelection.groups(MARTS_GROUP) - dg.AssetSelection.assets(FEE_INDEX)
        assert runner.run(marts_job.name, marts, tags=full_range_tags())
        enriched = [
            e.partition
            for r in runner.results
            for e in r.get_asset_materialization_events()
            if e.asset_key == SPENDING_ENRICHED
        ]
        assert len(enriched) == len(monthly_partitions.get_partition_keys())
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
            assert conn.execute(f"SELECT count(*) FROM {SPENDING_ENRICHED_TABLE}").fetchone()[0] > 0

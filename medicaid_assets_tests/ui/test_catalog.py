"""What the UI's catalog and automation pages show, checked on the definitions (no browser, fast)."""

from datetime import timedelta

import dagster as dg

from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending import keys as spending
from medicaid_assets.defs.medicaid_spending.jobs import main_job, medicaid_pipeline_schedule
from medicaid_assets.defs.medicaid_spending.keys import monthly_partitions
from medicaid_assets.defs.reference.code_sets import keys as code_sets
from medicaid_assets.defs.reference.fee_schedules import keys as fee_schedules
from medicaid_assets.defs.reference.nppes import keys as nppes
from medicaid_assets.defs.synthetic_medicare import keys as synthetic_medicare
from medicaid_assets.settings import Settings

FLOW = (
    "medicaid_spending",
    "nppes",
    "code_sets",
    "resolution",
    "resolved_outputs",
    "fee_schedules",
    "medicaid_marts",
    "synthetic_medicare",
)
SOURCES = (
    spending.SPENDING_FILE,
    nppes.MONTHLY_BUNDLE,
    nppes.WEEKLY_BUNDLE,
    code_sets.ARCHIVES,
    code_sets.FALLBACK,
    fee_schedules.PFS_RELEASE,
    synthetic_medicare.DOWNLOADS,
)


def test_every_asset_of_the_flow_has_what_its_page_shows(settings: Settings) -> None:
    graph = build_definitions(settings).resolve_asset_graph()
    nodes = [graph.get(key) for key in graph.get_all_asset_keys()]
    assert {node.group_name for node in nodes} >= set(FLOW)
    for node in (n for n in nodes if n.group_name in FLOW):
        key = node.key.to_user_string()
        assert node.description and node.kinds and node.owners, key
        assert any(not tag.startswith("dagster/") for tag in node.tags), f"{key} has no tag of its own"
        assert "dagster/code_references" in node.metadata, key


def test_sources_say_how_fresh_they_must_be(settings: Settings) -> None:
    graph = build_definitions(settings).resolve_asset_graph()
    for node in map(graph.get, SOURCES):
        policy = node.freshness_policy
        assert isinstance(policy, dg.FreshnessPolicy), node.key
        fail, warn = policy.fail_window.to_timedelta(), policy.warn_window.to_timedelta()
        assert timedelta(days=1) < warn < fail, node.key


def test_jobs_schedules_and_sensors_are_described_and_start_stopped(settings: Settings) -> None:
    defs = build_definitions(settings)
    assert all(job.description for job in defs.jobs or []), [j.name for j in defs.jobs or [] if not j.description]
    for schedule in defs.schedules or []:
        assert schedule.description and schedule.default_status == dg.DefaultScheduleStatus.STOPPED, schedule.name
    for sensor in defs.sensors or []:
        assert sensor.description and sensor.default_status == dg.DefaultSensorStatus.STOPPED, sensor.name


def test_full_refresh_schedule_runs_the_pipeline_over_every_spending_month() -> None:
    assert medicaid_pipeline_schedule.job_name == main_job.name
    with dg.instance_for_test() as instance:
        (request,) = medicaid_pipeline_schedule.evaluate_tick(dg.build_schedule_context(instance=instance)).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == monthly_partitions.get_first_partition_key()
    assert request.tags["dagster/asset_partition_range_end"] == monthly_partitions.get_last_partition_key()

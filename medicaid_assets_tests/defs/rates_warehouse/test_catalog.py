"""What the UI shows of the fee schedules and the rates warehouse, checked on the definitions (no browser)."""

from __future__ import annotations

import dagster as dg

from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.rates_warehouse.keys import GROUP
from medicaid_assets.defs.reference.fee_schedules import keys as fee_schedules
from medicaid_assets.settings import Settings

GROUPS = (fee_schedules.GROUP, GROUP)


def test_every_asset_has_what_its_page_shows_and_sources_say_how_fresh(settings: Settings) -> None:
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    nodes = [graph.get(key) for key in graph.get_all_asset_keys() if graph.get(key).group_name in GROUPS]
    assert len(nodes) >= 14
    for node in nodes:
        key = node.key.to_user_string()
        assert node.description and node.kinds and node.owners, key
        assert any(not tag.startswith("dagster/") for tag in node.tags), f"{key} has no tag of its own"
        assert "dagster/code_references" in node.metadata, key
    for key in (fee_schedules.OPPS_ADDENDA, fee_schedules.ASC_ADDENDA, fee_schedules.WC_FILES):
        assert isinstance(graph.get(key).freshness_policy, dg.FreshnessPolicy), key
    checks = (
        {(c.asset_key.path[-1], c.name) for c in graph.asset_check_keys}
        if hasattr(graph, "asset_check_keys")
        else set()
    )
    checks = checks or {(k.asset_key.path[-1], k.name) for k in graph.asset_check_keys}
    assert ("bench_medicare_opps", "opps_golden_rows") in checks and ("bench_wc_ga", "amounts_sane") in checks
    sensors = {s.name: s for s in defs.sensors or []}
    for name in ("opps_release_sensor", "asc_release_sensor"):
        assert sensors[name].description and sensors[name].default_status == dg.DefaultSensorStatus.STOPPED

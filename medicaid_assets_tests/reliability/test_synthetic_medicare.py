"""Synthetic Medicare downloads under server faults, and hostile downloads: retried to the same landing, or refused
with a message naming the file, nothing half-landed."""

import zipfile
from dataclasses import replace
from pathlib import Path

import dagster as dg

from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.synthetic_medicare.jobs import ALL_FILE_TYPES_TAGS
from medicaid_assets.defs.synthetic_medicare.keys import LANDED
from medicaid_assets.defs.synthetic_medicare.raw import synthetic_medicare_downloads, synthetic_medicare_landed
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.sample_world.world import read_world
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.events import failure_text, metadata
from medicaid_assets_tests.support.pipeline import QUICK_RETRY_FILES

ASSETS = [synthetic_medicare_downloads, synthetic_medicare_landed]
TAGS = {"tags": ALL_FILE_TYPES_TAGS}


def land(settings: Settings, instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteInProcessResult:
    resources = {**build_resources(settings), "files": QUICK_RETRY_FILES}
    return dg.materialize(ASSETS, resources=resources, instance=instance, raise_on_error=False, **kwargs)


def test_faulty_downloads_are_retried_to_the_full_landing(settings, world: WorldControl, world_dir) -> None:
    """All three downloads under 503s, 429s, dropped connections and truncated bodies; one type landed after."""
    world.set_faults(rate=0.3, kinds=["503", "429", "drop", "truncate"], scope="files", seed=7)
    with dg.instance_for_test() as instance:
        result = land(settings, instance, partition_key="carrier")
    assert result.success, failure_text(result)
    assert {r["fault"] for r in world.requests()} > {None}
    rows = read_world(world_dir)["summary"]["synthetic_medicare"]["rows"]
    landed = metadata(result, LANDED.to_user_string())["rows_per_type_and_year"]
    assert sum(landed["carrier"].values()) == rows["carrier"]


def test_hostile_downloads_are_refused_naming_the_file(
    settings, world: WorldControl, world_server: WorldServer, world_dir: Path
) -> None:
    hostile = world_dir / "files" / "hostile.example"
    hostile.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(hostile / "claims.zip", "w") as zf:
        zf.writestr("../../escape/carrier.csv", "BENE_ID|CLM_ID\n")
    (hostile / "pde.csv").write_text("<!DOCTYPE html><html><body>Please sign in</body></html>\n")
    base = world_server.base_url
    with dg.instance_for_test() as instance:
        escaping = land(
            replace(settings, synthetic_medicare_claims_url=f"{base}/hostile.example/claims.zip"), instance, **TAGS
        )
        assert "would escape the target folder" in failure_text(escaping)
        html = land(replace(settings, synthetic_medicare_pde_url=f"{base}/hostile.example/pde.csv"), instance, **TAGS)
        assert "pde.csv" in failure_text(html) and "HTML" in failure_text(html)
    layout = DataLayout(settings.data_dir)
    assert not (layout.synthetic_medicare_landed).exists()  # nothing was landed from either
    assert not list(layout.root.rglob("escape"))

"""Price-transparency assets on the sample world: ToCs, signed links, all containers, outputs and checks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.price_transparency.assets import in_network, payer_quality, payer_structure, payer_toc
from medicaid_assets.defs.price_transparency.keys import FILE_PARTITIONS, PAYER_PARTITIONS
from medicaid_assets.defs.price_transparency.resources import PriceTransparencyResource
from medicaid_assets.sample_world.price_transparency import PAYERS, world_catalog
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.pipeline import QUICK_RETRY_FILES

ASSETS = [payer_toc, in_network, payer_structure, payer_quality]


@pytest.fixture
def pt_settings(settings: Settings, world_server: WorldServer, tmp_path: Path) -> Settings:
    catalog = world_catalog(world_server.base_url, tmp_path / "payers.yaml")
    return replace(settings, pt_catalog=catalog, pt_allow_private_urls=True, io_manager="duckdb")


def _materialize(settings: Settings, instance: dg.DagsterInstance, selection, partition: str):
    resources = {**build_resources(settings), "files": QUICK_RETRY_FILES}
    return dg.materialize(
        ASSETS,
        selection=selection,
        resources=resources,
        instance=instance,
        partition_key=partition,
        raise_on_error=False,
    )


def _read_payer(settings: Settings, instance: dg.DagsterInstance, payer: str) -> list[str]:
    instance.add_dynamic_partitions(PAYER_PARTITIONS, [payer])
    assert _materialize(settings, instance, [payer_toc], payer).success
    keys = [k for k in instance.get_dynamic_partitions(FILE_PARTITIONS) if k.startswith(f"{payer}__")]
    for key in keys:
        result = _materialize(settings, instance, [in_network], key)
        assert result.success, key
    return keys


def _sql(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.slow
def test_every_sample_payer_reads_through_the_io_manager(pt_settings: Settings, world: WorldControl) -> None:
    with dg.instance_for_test() as instance:
        for payer in PAYERS:
            _read_payer(pt_settings, instance, payer)
        files = _sql(
            pt_settings,
            "SELECT payer, container, items, rate_rows, remote_references, remote_failed, refs_after_in_network "
            "FROM price_transparency.files ORDER BY payer",
        )
        by_payer = {row[0]: row[1:] for row in files}
        assert set(by_payer) == set(PAYERS)
        assert by_payer["uhc_tpa_sample"][:2] == ("json", 902)
        assert by_payer["dean_sample"][0] == "zip" and by_payer["dean_sample"][4] == 0
        assert by_payer["edge_sample"][5] is True
        missing = _sql(
            pt_settings, "SELECT missing_root_fields FROM price_transparency.files WHERE payer = 'edge_sample'"
        )
        assert missing == [("",)]  # the world adds the two root fields dolthub's test file leaves out
        carefirst = by_payer["carefirst_sample"]
        assert carefirst[0] == "gzip" and carefirst[3] > 0 and 0 < carefirst[4] < carefirst[3]
        rates = _sql(pt_settings, "SELECT count(*), count(DISTINCT file_key) FROM price_transparency.rates")[0]
        assert rates[1] == len(PAYERS) and rates[0] == sum(r[3] for r in files)
        # the remote references that exist resolved, exact float ids joined
        resolved = _sql(
            pt_settings,
            "SELECT count(*) FROM price_transparency.rates WHERE payer = 'carefirst_sample' "
            "AND provider_resolution = 'remote' AND tin_value IS NOT NULL",
        )[0][0]
        assert resolved > 0
        # the per-payer quality table, from every file's row
        assert dg.materialize(
            ASSETS, selection=[payer_quality], resources=build_resources(pt_settings), instance=instance
        ).success
        quality = dict(
            _sql(pt_settings, "SELECT payer, remote_references_failed FROM price_transparency.payer_quality")
        )
        assert quality == {p: by_payer[p][4] for p in PAYERS}


@pytest.mark.slow
def test_rerun_replaces_the_partition_without_duplicates(pt_settings: Settings, world: WorldControl) -> None:
    with dg.instance_for_test() as instance:
        (key,) = _read_payer(pt_settings, instance, "uhc_tpa_sample")
        first = _sql(pt_settings, "SELECT count(*) FROM price_transparency.rates")[0][0]
        assert _materialize(pt_settings, instance, [in_network], key).success
        assert _sql(pt_settings, "SELECT count(*) FROM price_transparency.rates")[0][0] == first
        assert _sql(pt_settings, "SELECT count(DISTINCT rate_uuid) > 0 FROM price_transparency.rates")[0][0]


@pytest.mark.slow
def test_expired_signed_link_is_refused_and_a_fresh_toc_gives_a_valid_one(
    pt_settings: Settings, world: WorldControl, world_server: WorldServer
) -> None:
    toc_url = f"{world_server.base_url}/mrf.payers.sample-world.example/toc/uhc_tpa_index.json"
    toc = httpx.get(toc_url).json()
    link = toc["reporting_structure"][0]["in_network_files"][0]["location"]
    assert httpx.get(link).status_code == 200
    expired = link.split("Expires=")[0] + "Expires=1000&" + link.split("&", 1)[1]
    assert httpx.get(expired).status_code == 403
    with dg.instance_for_test() as instance:
        (key,) = _read_payer(pt_settings, instance, "uhc_tpa_sample")  # the run resolved the ToC itself
    stored = _sql(pt_settings, "SELECT url FROM price_transparency.payer_toc")[0][0]
    assert "?" not in stored  # the signature is never stored: a later run fetches a fresh one
    assert key.startswith("uhc_tpa_sample__")


def test_a_hostile_file_fails_naming_it_and_writes_nothing(
    pt_settings: Settings, world: WorldControl, world_dir: Path, tmp_path: Path
) -> None:
    target = world_dir / "files" / "mrf.payers.sample-world.example" / "in-network" / "edge_in-network.json"
    original = target.read_bytes()
    try:
        target.write_bytes(original[: len(original) // 2])
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(PAYER_PARTITIONS, ["edge_sample"])
            assert _materialize(pt_settings, instance, [payer_toc], "edge_sample").success
            (key,) = instance.get_dynamic_partitions(FILE_PARTITIONS)
            result = _materialize(pt_settings, instance, [in_network], key)
            assert not result.success
            failure = next(e for e in result.all_events if e.is_step_failure)
            message = failure.step_failure_data.error.message
            assert key in message and "no output was written" in message
        tables = _sql(
            pt_settings,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'price_transparency'",
        )
        assert ("rates",) not in tables
    finally:
        target.write_bytes(original)
    assert json.loads(original)


@pytest.mark.slow
def test_structure_asset_describes_each_payers_files(pt_settings: Settings, world: WorldControl) -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PAYER_PARTITIONS, ["carefirst_sample", "dean_sample"])
        for payer in ("carefirst_sample", "dean_sample"):
            assert _materialize(pt_settings, instance, [payer_structure], payer).success
    rows = _sql(
        pt_settings,
        "SELECT payer, container, generation, remote_references, float_reference_ids, last_updated_on_format "
        "FROM price_transparency.structure ORDER BY payer",
    )
    assert rows == [
        ("carefirst_sample", "gzip", "v1", 370, 370, "YYYY-MM-DD"),
        ("dean_sample", "zip", "v1", 1, 0, "MM/DD/YYYY"),
    ]


@pytest.mark.slow
def test_a_file_split_over_two_processes_stores_the_same_tables(pt_settings: Settings, world: WorldControl) -> None:
    """The UHC file (plain JSON, references first) read in the step's process, then again split over two worker
    processes (``split_min_bytes=0``): the stored partition is the same, row for row."""
    tables = ("rates", "organizations", "providers")

    def stored() -> dict[str, list[tuple]]:
        out = {t: sorted(_sql(pt_settings, f"SELECT * FROM price_transparency.{t}"), key=repr) for t in tables}
        out["files"] = _sql(
            pt_settings, "SELECT items, items_kept, rate_rows, rates_dropped FROM price_transparency.files"
        )
        return out

    with dg.instance_for_test() as instance:
        (key,) = _read_payer(pt_settings, instance, "uhc_tpa_sample")
        one = stored()
        split = PriceTransparencyResource(
            catalog_path=str(pt_settings.pt_catalog), allow_private_urls=True, split_min_bytes=0
        )
        resources = {**build_resources(pt_settings), "files": QUICK_RETRY_FILES, "price_transparency": split}
        result = dg.materialize(
            ASSETS, selection=[in_network], resources=resources, instance=instance, partition_key=key
        )
        assert result.success
        logs = [e.user_message for e in instance.all_logs(result.run_id)]
        assert any("(2 processes)" in m for m in logs)  # the file was split, not read in the step's process
        assert stored() == one and one["rates"] and one["providers"]

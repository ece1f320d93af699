"""Price-transparency assets on the sample world: ToCs, signed links, all containers, outputs and checks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from medicaid_assets.definitions import build_definitions, build_resources
from medicaid_assets.defs.price_transparency.assets import in_network, payer_quality, payer_structure, payer_toc
from medicaid_assets.defs.price_transparency.keys import (
    FILE_PARTITIONS,
    FILES,
    ORGANIZATIONS,
    PAYER_PARTITIONS,
    PROVIDERS,
    RATES,
    TOC_PARTITIONS,
    toc_partition_key,
)
from medicaid_assets.defs.price_transparency.resources import PriceTransparencyResource
from medicaid_assets.defs.price_transparency.sensors import price_transparency_toc_sensor
from medicaid_assets.defs.rates_warehouse.keys import FACT_RATE
from medicaid_assets.sample_world.price_transparency import PAYERS, world_catalog
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.settings import Settings
from medicaid_assets_tests.support.pipeline import QUICK_RETRY_FILES, with_resources

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


def _this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")  # the sample ToCs carry no date: the month they are fetched


def _read_toc(settings: Settings, instance: dg.DagsterInstance, payer: str) -> dg.ExecuteInProcessResult:
    key = toc_partition_key(payer, _this_month())
    instance.add_dynamic_partitions(TOC_PARTITIONS, [key])
    return _materialize(settings, instance, [payer_toc], key)


def _read_payer(settings: Settings, instance: dg.DagsterInstance, payer: str) -> list[str]:
    assert _read_toc(settings, instance, payer).success
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
def test_an_expired_signed_link_is_refetched_via_a_fresh_toc(
    pt_settings: Settings, world: WorldControl, world_server: WorldServer
) -> None:
    toc_url = f"{world_server.base_url}/mrf.payers.sample-world.example/toc/uhc_tpa_index.json"
    with dg.instance_for_test() as instance:
        (key,) = _read_payer(pt_settings, instance, "uhc_tpa_sample")
        good = _sql(pt_settings, "SELECT count(*) FROM price_transparency.rates")[0][0]
        world.clear_requests()
        world.expire_signed_links(1)  # the run's first ToC hands out a link that has already expired
        assert _materialize(pt_settings, instance, [in_network], key).success
        seen = [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in world.requests() if "/_world/" not in r["path"]]
        assert seen[:4] == [
            ("uhc_tpa_index.json", 200),
            ("uhc_tpa_in-network.json", 403),  # S3's "Request has expired"
            ("uhc_tpa_index.json", 200),  # a fresh ToC, a fresh signature
            ("uhc_tpa_in-network.json", 200),
        ]
        assert _sql(pt_settings, "SELECT count(*) FROM price_transparency.rates")[0][0] == good
        world.expire_signed_links(2)  # expired again on the second ToC: the run fails, naming the file, unsigned
        result = _materialize(pt_settings, instance, [in_network], key)
        assert not result.success
        message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
        assert key in message and "HTTP 403" in message and "ToC fetched again" in message
        assert "Signature" not in message and "Expires" not in message
    assert httpx.get(toc_url).status_code == 200
    stored = _sql(pt_settings, "SELECT url FROM price_transparency.payer_toc")[0][0]
    assert "?" not in stored  # the signature is never stored: every run fetches a fresh one


def test_sensor_records_a_months_toc_once_and_reads_only_new_file_contents(
    pt_settings: Settings, world: WorldControl, world_dir: Path
) -> None:
    resources = build_resources(pt_settings)
    target = world_dir / "files" / "mrf.payers.sample-world.example" / "in-network" / "uhc_tpa_in-network.json"
    uhc = sorted(PAYERS).index("uhc_tpa_sample")

    def tick(instance: dg.DagsterInstance) -> dg.SensorResult:
        context = dg.build_sensor_context(instance=instance, cursor=json.dumps({"next": uhc}), resources=resources)
        result = price_transparency_toc_sensor(context)
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result

    original = target.read_bytes()
    try:
        with dg.instance_for_test() as instance:
            first = tick(instance)
            toc_key = toc_partition_key("uhc_tpa_sample", _this_month())
            runs = [(r.job_name, r.partition_key) for r in first.run_requests]
            (file_key,) = instance.get_dynamic_partitions(FILE_PARTITIONS)
            assert runs == [("price_transparency_toc", toc_key), ("price_transparency_files", file_key)]
            assert sorted(instance.get_dynamic_partitions(PAYER_PARTITIONS)) == sorted(PAYERS)
            # the same ToC again (its links signed anew): nothing new, no run
            again = tick(instance)
            assert again.run_requests == [] and again.dynamic_partitions_requests == []
            # the payer rewrites the file at the same URL: a new content, a new partition and a run for it only
            target.write_bytes(original + b"\n")
            changed = tick(instance)
            (new_key,) = set(instance.get_dynamic_partitions(FILE_PARTITIONS)) - {file_key}
            assert [r.partition_key for r in changed.run_requests] == [new_key]
            assert new_key.rsplit("-", 1)[0] == file_key.rsplit("-", 1)[0]  # the same file, another content
    finally:
        target.write_bytes(original)


@pytest.mark.slow
def test_a_schema_invalid_file_fails_its_blocking_check_and_blocks_downstream(
    pt_settings: Settings, world: WorldControl, world_dir: Path
) -> None:
    target = world_dir / "files" / "mrf.payers.sample-world.example" / "in-network" / "edge_in-network.json"
    original = target.read_bytes()
    added = b'"reporting_entity_type": "Test", "last_updated_on": "2024-01-01", '
    assert added in original
    try:
        target.write_bytes(original.replace(added, b""))  # dolthub's file as published: two required fields missing
        with dg.instance_for_test() as instance:
            assert _read_toc(pt_settings, instance, "edge_sample").success
            (key,) = instance.get_dynamic_partitions(FILE_PARTITIONS)
            defs = with_resources(build_definitions(pt_settings), {"files": QUICK_RETRY_FILES})
            job = defs.resolve_implicit_global_asset_job_def().get_subset(
                asset_selection={RATES, ORGANIZATIONS, PROVIDERS, FILES, FACT_RATE}
            )
            result = job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
            assert not result.success
            (check,) = [
                e.asset_check_evaluation_data
                for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
                and e.asset_check_evaluation_data.check_name == "schema_valid"
            ]
            assert not check.passed
            assert check.metadata["missing_root_fields"].value == "reporting_entity_type, last_updated_on"
            failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
            assert "blocking asset check" in failure
            materialized = {e.asset_key for e in result.all_events if e.is_step_materialization}
            assert FACT_RATE not in materialized and FILES in materialized  # downstream never ran
            assert instance.get_latest_materialization_event(FACT_RATE) is None
        # the partition is whole, never partial: its files row agrees with the rates stored
        ((rows, rate_rows, missing),) = _sql(
            pt_settings,
            "SELECT (SELECT count(*) FROM price_transparency.rates WHERE file_key = f.file_key), rate_rows, "
            f"missing_root_fields FROM price_transparency.files f WHERE file_key = '{key}'",
        )
        assert rows == rate_rows > 0 and missing == "reporting_entity_type,last_updated_on"
    finally:
        target.write_bytes(original)


def test_a_hostile_file_fails_naming_it_and_writes_nothing(
    pt_settings: Settings, world: WorldControl, world_dir: Path, tmp_path: Path
) -> None:
    target = world_dir / "files" / "mrf.payers.sample-world.example" / "in-network" / "edge_in-network.json"
    original = target.read_bytes()
    try:
        target.write_bytes(original[: len(original) // 2])
        with dg.instance_for_test() as instance:
            assert _read_toc(pt_settings, instance, "edge_sample").success
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

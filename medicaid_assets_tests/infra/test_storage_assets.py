"""The main job with object storage configured, against a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from medicaid_assets.cli.build_datasets import DATASETS
from medicaid_assets.cli.download import SOURCES
from medicaid_assets.cli.runner import SAMPLE_WORLD_API, Runner, full_range_tags
from medicaid_assets.core.object_store import ObjectStore
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.medicaid_spending.keys import SPENDING_FILE
from medicaid_assets.defs.publish.keys import MIRRORED_OUTPUTS, MIRRORED_SOURCES, RESTORED_SOURCES
from medicaid_assets.defs.publish.mirrored_files import CACHES, OUTPUTS, local_files
from medicaid_assets.defs.publish.mirrored_files import SOURCES as SOURCE_FILES
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.sample_world.urls import settings_for_world
from medicaid_assets.settings import Settings
from medicaid_assets_tests.infra.conftest import AWS_ENV, PREFIX, InfraDemo, S3Server, storage_env
from medicaid_assets_tests.support.cli import SUCCEEDED


def table_counts(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def assert_bucket_mirrors(data: Path, s3: S3Server, bucket: str, tmp: Path) -> set[str]:
    """Every source and output file is in the bucket byte for byte; caches hold the same rows. Returns the names."""
    client = s3.client()
    layout = DataLayout(data)
    names = set()
    for kind in (SOURCE_FILES, OUTPUTS):
        files = local_files(layout, kind)
        assert files, kind
        for path in files:
            rel = path.relative_to(data).as_posix()
            body = client.get_object(Bucket=bucket, Key=f"{PREFIX}/{rel}")["Body"].read()
            assert body == path.read_bytes(), rel
            names.add(rel)
    store = ObjectStore(client, bucket, PREFIX)
    for path in local_files(layout, CACHES):
        rel = path.relative_to(data).as_posix()
        copy = tmp / "caches" / rel
        store.get_file(rel, copy)
        assert table_counts(copy) == table_counts(path), rel
        names.add(rel)
    # Nothing half-done is left: no staging object, no open multipart upload.
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not [k for k in keys if "/.staging/" in k]
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert {k.removeprefix(PREFIX + "/") for k in keys} == names
    return names


@pytest.mark.slow
def test_a_source_step_waits_for_the_restore_of_raw_files(
    tmp_path: Path, world: WorldControl, world_server: WorldServer, s3_server: S3Server, bucket: str
) -> None:
    """The spending file mirrored from one machine: on a fresh one, the run restores it before the download step,
    which then finds it and asks the public server nothing."""

    def materialize(data: Path, *keys: dg.AssetKey) -> dg.ExecuteInProcessResult:
        settings = settings_for_world(Settings.from_env(storage_env(data, s3_server, bucket)), world_server.base_url)
        defs = build_definitions(settings)
        return dg.materialize(list(defs.assets or []), selection=list(keys), resources=defs.resources)

    assert materialize(tmp_path / "first", SPENDING_FILE, MIRRORED_SOURCES).success
    world.clear_requests()
    result = materialize(tmp_path / "second", SPENDING_FILE, RESTORED_SOURCES)
    assert result.success
    assert [r for r in world.requests() if r["api"] == "files"] == []
    started = [e.node_name for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START]
    assert started == [RESTORED_SOURCES.to_python_identifier(), SPENDING_FILE.to_python_identifier()]


@pytest.mark.slow
def test_main_job_mirrors_to_the_bucket_and_a_fresh_machine_restores_instead_of_downloading(
    tmp_path: Path, world: WorldControl, world_server: WorldServer, s3_server: S3Server, bucket: str
) -> None:
    def settings(data: Path) -> Settings:
        return settings_for_world(Settings.from_env(storage_env(data, s3_server, bucket)), world_server.base_url)

    first = tmp_path / "first"
    with dg.instance_for_test() as instance:
        runner = Runner(
            build_definitions(settings(first), api=SAMPLE_WORLD_API), instance, quiet=True, split_ranges=True
        )
        assert runner.run(main_job.name, tags=full_range_tags())
        done = {e.asset_key for r in runner.results for e in r.get_asset_materialization_events()}
    assert {RESTORED_SOURCES, MIRRORED_SOURCES, MIRRORED_OUTPUTS} <= done
    names = assert_bucket_mirrors(first, s3_server, bucket, tmp_path)
    assert {
        "raw/medicaid/medicaid-provider-spending.parquet",
        "raw/medicaid/medicaid-provider-spending.parquet.meta.json",
        "raw/cpt/cpt_hcpcs_fallback.csv",
        "cache/npi/npi_provider_cache.sqlite",
        "output/npi.parquet",
        "mappings/hcpcs/hcpcs_code_mapping.csv",
        "unresolved_identifiers.csv",
    } <= names
    assert any(n.startswith("raw/nppes/monthly/") and n.endswith(".zip") for n in names)
    assert any(n.startswith("raw/cpt/archives/") and n.endswith(".zip") for n in names)

    # A fresh machine with the same configuration: sources come from the bucket, not the public servers,
    # and the restored caches settle every identifier without a single API request.
    second = tmp_path / "second"
    world.clear_requests()
    with dg.instance_for_test() as instance:
        runner = Runner(
            build_definitions(settings(second), api=SAMPLE_WORLD_API), instance, quiet=True, split_ranges=True
        )
        assert runner.run(main_job.name, SOURCES, tags=full_range_tags())
        assert [(r["method"], r["path"], r["status"]) for r in world.requests() if r["api"] == "files"] == []
        sources_runs = len(runner.results)
        assert runner.run(main_job.name, DATASETS)
        assert [r for r in world.requests() if r["api"] in ("npi", "hcpcs")] == []

        def materializations(results: list[dg.ExecuteInProcessResult], key: dg.AssetKey) -> list:
            return [m for r in results for m in r.asset_materializations_for_node(key.to_python_identifier())]

        restored = materializations(runner.results[:sources_runs], RESTORED_SOURCES)
        assert restored[0].metadata["restored"].value >= 5
        mirrored = materializations(runner.results[sources_runs:], MIRRORED_OUTPUTS)
        assert mirrored[0].metadata["files"].value > 0
    for kind in (SOURCE_FILES,):
        for path in local_files(DataLayout(first), kind):
            rel = path.relative_to(first)
            assert (second / rel).read_bytes() == path.read_bytes(), rel
    for rel in ("mappings/npi/npi_provider_mapping.csv", "mappings/hcpcs/hcpcs_code_mapping.csv"):
        assert (second / rel).read_bytes() == (first / rel).read_bytes(), rel


@pytest.mark.slow
def test_demo_with_object_storage_puts_every_file_in_the_bucket(
    infra_demo: InfraDemo, s3_server: S3Server, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's `./run demo`, as a user runs it, with MEDICAID_OBJECT_STORE_URL set (the demo of ``infra_demo``,
    on a PostgreSQL instance where one can run: test_postgres_instance reads that)."""
    result = infra_demo.result
    assert SUCCEEDED.search(result.stdout)
    assert_bucket_mirrors(infra_demo.data, s3_server, infra_demo.bucket, infra_demo.tmp)
    secret = AWS_ENV["AWS_SECRET_ACCESS_KEY"]
    assert secret not in result.stdout + result.stderr
    for key, value in (infra_demo.postgres.instance_env() if infra_demo.postgres else {}).items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.from_config(str(infra_demo.home)) as instance:
        for run in instance.get_runs():
            assert secret not in str(run.run_config)
            assert not [e for e in instance.all_logs(run.run_id) if secret in str(e)]

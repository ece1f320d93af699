"""Identifier resolution end to end against the sample-world servers (real HTTP on loopback, real files)."""

import csv
import math
import shutil
import signal
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from medicaid_assets.cli.build_datasets import DATASETS
from medicaid_assets.cli.runner import Runner
from medicaid_assets.core.fetcher import FetchProgress
from medicaid_assets.core.npi import is_valid_npi
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.medicaid_spending.jobs import main_job
from medicaid_assets.defs.reference.code_sets.fallback import COLUMNS as FALLBACK_COLUMNS
from medicaid_assets.defs.reference.resolution.checks import npi_disagreements
from medicaid_assets.defs.reference.resolution.writers import (
    HCPCS_DATASET_COLUMNS,
    HCPCS_MAPPING_COLUMNS,
    NPI_DATASET_COLUMNS,
    NPI_MAPPING_COLUMNS,
    TRIAGE_COLUMNS,
    UNRESOLVED_COLUMNS,
)
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.code_universe import code_universe
from medicaid_assets.sample_world.providers import current_provider, index_for_npi
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.sample_world.spending import dataset_npi_pool
from medicaid_assets.sample_world.urls import world_env
from medicaid_assets.sample_world.world import world_spec
from medicaid_assets.settings import PROJECT_ROOT, Settings, child_env
from medicaid_assets_tests.support.cli import cli_command, run_cli_ok
from medicaid_assets_tests.support.pipeline import FAST_API
from medicaid_assets_tests.support.waiting import wait_until

VOLATILE = {"fetched_at_unix", "requested_at_utc", "api_run_id"}


@dataclass(frozen=True)
class Built:
    data: Path  # ``sourced`` after one build of the datasets with every default (read only: copy it to change it)
    requests: list[dict]  # the world's request log of that build: what a cold cache asks


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, sourced: Path, world_server: WorldServer) -> Built:
    """One default build for the module: its outputs are the fault-free ones the fault, ctrl-c and object-storage
    tests compare with, its folder the warm cache others start from (one build instead of one a test)."""
    data = shutil.copytree(sourced, tmp_path_factory.mktemp("built") / "data")
    control = WorldControl(world_server.base_url)
    control.clear_faults()
    control.publish_weeklies(None)
    control.clear_requests()
    assert _build(_settings(data, world_server))
    return Built(data, control.requests())


@pytest.fixture
def data_dir(sourced: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(sourced, target)
    return target


@pytest.fixture
def built_dir(built: Built, tmp_path: Path) -> Path:
    """A copy of the built folder, for a test that changes it."""
    return shutil.copytree(built.data, tmp_path / "data")


def _settings(data: Path, server: WorldServer) -> Settings:
    from medicaid_assets.sample_world.urls import settings_for_world

    return settings_for_world(Settings.from_env({"MEDICAID_DATA_DIR": str(data)}), server.base_url)


def _build(settings: Settings, run_config: dict | None = None, hcpcs_batch_size: int = 100, **api) -> bool:
    with dg.instance_for_test() as instance:
        defs = build_definitions(settings, api={**FAST_API, **api}, hcpcs_batch_size=hcpcs_batch_size)
        runner = Runner(defs, instance, quiet=True)
        return runner.run(main_job.name, DATASETS, run_config=run_config or {})


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _outputs(data: Path) -> dict[str, list[tuple]]:
    """Every output's rows without the columns that record when (they differ between runs by design), with
    the data folder's path (in fallback sentinels) written as ``<data>``, so two folders compare."""

    def same(value: object) -> object:
        return value.replace(str(data), "<data>") if isinstance(value, str) else value

    out = {}
    for name, path in {
        "npi_mapping": data / "mappings/npi/npi_provider_mapping.csv",
        "hcpcs_mapping": data / "mappings/hcpcs/hcpcs_code_mapping.csv",
        "unresolved": data / "unresolved_identifiers.csv",
    }.items():
        out[name] = [tuple(same(v) for k, v in r.items() if k not in VOLATILE) for r in _csv(path)]
    for name in ("npi", "hcpcs"):
        table = pq.read_table(data / "output" / f"{name}.parquet")
        keep = [c for c in table.column_names if c not in VOLATILE]
        out[name] = [tuple(same(v) for v in r.values()) for r in table.select(keep).to_pylist()]
    return out


def _asked(requests: list[dict], api: str) -> list[str]:
    asked = []
    for r in requests:
        if r["api"] == api:
            ids = r["identifiers"]
            asked += ids if isinstance(ids, list) else [ids]
    return asked


def test_npis_resolve_bulk_first_then_api(built: Built, world_dir) -> None:
    spec = world_spec(world_dir)
    data_dir = built.data
    billing, servicing = dataset_npi_pool(spec)
    npis = {n.strip() for n in billing + servicing if n and n.strip()}
    mapping = {r["npi"]: r for r in _csv(data_dir / "mappings/npi/npi_provider_mapping.csv")}
    unresolved = {
        r["identifier"]: r for r in _csv(data_dir / "unresolved_identifiers.csv") if r["identifier_type"] == "npi"
    }
    asked = _asked(built.requests, "npi")
    expect_api = set()
    for npi in npis:
        index = index_for_npi(spec, npi) if is_valid_npi(npi) else None
        if not is_valid_npi(npi):
            assert unresolved[npi]["status"] == "invalid" and npi not in asked
            continue
        provider = current_provider(spec, index)
        if index in spec.range_unknown():
            expect_api.add(npi)
            assert unresolved[npi]["status"] == "not_found"
        elif index in spec.range_api_only():
            expect_api.add(npi)
            assert mapping[npi]["status"] == "ok" and mapping[npi]["provider_name"] == provider.display_name
        elif provider.entity_type == 0:  # deactivated: known from the bulk file, no request
            assert mapping[npi]["status"] == "not_found" and npi not in asked
        else:  # in the monthly or a weekly bundle: the current name, zero requests
            assert mapping[npi]["status"] == "ok" and mapping[npi]["provider_name"] == provider.display_name
            assert npi not in asked
    assert sorted(asked) == sorted(expect_api)


def test_codes_resolve_through_fallback_and_batches(built: Built, world_dir) -> None:
    spec = world_spec(world_dir)
    data_dir = built.data
    ok = {r["hcpcs_code"] for r in _csv(data_dir / "mappings/hcpcs/hcpcs_code_mapping.csv")}
    unresolved = {
        r["identifier"] for r in _csv(data_dir / "unresolved_identifiers.csv") if r["identifier_type"] == "hcpcs"
    }
    for code in code_universe(spec):
        if code.resolvable:
            assert code.code in ok, code
        else:
            assert code.code not in ok and any(s.strip() in unresolved for s in code.spellings), code
    asked = _asked(built.requests, "hcpcs")
    api_only = [c.code for c in code_universe(spec) if c.in_api and not (c.in_pprrvu or c.in_level2_file)]
    assert set(api_only) <= set(asked)
    assert not any(c.isdigit() for c in asked)  # CPT codes come from the PPRRVU fallback, never the API
    requests = [r for r in built.requests if r["api"] == "hcpcs"]
    assert len(requests) <= math.ceil(len(set(asked)) / 100)
    fallback = _csv(data_dir / "raw/cpt/cpt_hcpcs_fallback.csv")
    cpt = next(c for c in code_universe(spec) if c.kind == "cpt" and c.in_pprrvu)
    assert next(r for r in fallback if r["hcpcs_code"] == cpt.code)["short_desc"] == cpt.short_desc


def test_warm_cache_costs_no_request_and_gives_identical_outputs(data_dir, world: WorldControl, world_server) -> None:
    settings = _settings(data_dir, world_server)
    assert _build(settings)
    first = _outputs(data_dir)
    world.clear_requests()
    assert _build(settings)
    assert [r for r in world.requests() if r["api"] in ("npi", "hcpcs")] == []
    assert _outputs(data_dir) == first


HAND_OFFS = ("dataset_codes", "dataset_npis", "npi_bulk_rows")


def test_hand_offs_go_through_the_configured_io_manager(tmp_path, sourced, built: Built, world_server) -> None:
    """The identifier sets and bulk rows between the warehouse and the lookups are values the IO manager stores:
    parquet files under ``<data>/assets/resolution/`` or tables ``resolution.*`` in the warehouse; same outputs."""
    outputs = {}
    for kind in ("parquet", "duckdb"):
        if kind == "parquet":  # the default: the module's build
            data, settings = built.data, _settings(built.data, world_server)
            assert settings.io_manager == kind
        else:
            data = shutil.copytree(sourced, tmp_path / kind)
            settings = replace(_settings(data, world_server), io_manager=kind)
            assert _build(settings)
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
            tables = conn.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'resolution'").fetchall()
            stored = conn.execute("SELECT table_name FROM _dagster_io.sources").fetchall() if tables else []
        files = sorted(p.name for p in (data / "assets" / "resolution").glob("*.parquet"))
        if kind == "parquet":
            assert files == [f"{name}.parquet" for name in HAND_OFFS] and tables == []
        else:
            assert files == [] and sorted(t for (t,) in tables) == list(HAND_OFFS)
            assert sorted(t for (t,) in stored) == [f"resolution.{name}" for name in HAND_OFFS]  # with their digests
        assert not (data / "resolution").exists()  # the former hand-off folder
        outputs[kind] = _outputs(data)
    assert outputs["duckdb"] == outputs["parquet"]


def test_hand_offs_on_object_storage(tmp_path, sourced, built: Built, world_server, s3_server, bucket, aws_env) -> None:
    """With ``MEDICAID_IO_MANAGER_BASE=s3://…`` the hand-offs are objects in the bucket, the steps that query them
    read local copies, and the outputs are those of the local default."""
    local = built.data
    data = shutil.copytree(sourced, tmp_path / "s3")
    base = f"s3://{bucket}/assets"
    settings = replace(_settings(data, world_server), io_manager_base=base, s3_endpoint_url=s3_server.endpoint_url)
    assert _build(settings)
    listed = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    assert sorted(o["Key"] for o in listed) == [f"assets/resolution/{name}.parquet" for name in HAND_OFFS]
    assert not (data / "assets" / "resolution").exists()  # (assets/code_sets/ holds the NUCC code set of the sources)
    assert _outputs(data) == _outputs(local)


def test_faults_at_20_percent_give_the_fault_free_outputs(
    data_dir, built: Built, world: WorldControl, world_server
) -> None:
    clean = built.data
    world.set_faults(
        rate=0.2,
        kinds=["429", "500", "503", "slow", "drop", "truncate", "nonjson"],
        scope="api",
        seed=7,
        slow_seconds=1.5,
    )
    assert _build(_settings(data_dir, world_server))
    assert any(r["fault"] for r in world.requests())
    faulty, fault_free = _outputs(data_dir), _outputs(clean)
    for name in fault_free:
        assert [r for r in faulty[name] if r not in fault_free[name]] == [], name
    assert faulty == fault_free


def test_failing_batch_falls_back_to_single_requests(data_dir, world: WorldControl, world_server) -> None:
    world.set_faults(rate=1.0, kinds=["503"], scope="api")
    settings = _settings(data_dir, world_server)
    # Every request fails: batch attempts and rounds are spent, then each code is asked on its own.
    assert _build(settings, attempts=1, retry_rounds=0, hcpcs_batch_size=100) or True
    singles = [
        r
        for r in world.requests()
        if r["api"] == "hcpcs" and isinstance(r["identifiers"], list) and len(r["identifiers"]) == 1
    ]
    assert singles
    world.clear_faults()
    assert _build(settings)
    errors = [r for r in _csv(data_dir / "unresolved_identifiers.csv") if r["status"] == "error"]
    assert errors == []  # errors are not settled: the next run asked again and resolved them


def test_skip_api_and_max_new_lookups(data_dir, world: WorldControl, world_server) -> None:
    settings = _settings(data_dir, world_server)
    config = {"ops": {"identifier_caches": {"config": {"skip_api": True}}}}
    assert _build(settings, config)
    assert _asked(world.requests(), "npi") == [] and _asked(world.requests(), "hcpcs") == []
    config = {"ops": {"identifier_caches": {"config": {"max_new_lookups": 2}}}}
    assert _build(settings, config)
    assert len(_asked(world.requests(), "npi")) == 2


def test_lookup_progress_reaches_the_sink_of_a_front_end_running_the_steps(data_dir, world_server) -> None:
    """The CLI's live bars: ``build_definitions(..., progress_sink=...)`` gets every API's progress in-process."""
    seen: dict[str, list[FetchProgress]] = {}
    settings = _settings(data_dir, world_server)
    with dg.instance_for_test() as instance:
        defs = build_definitions(
            settings, api=FAST_API, progress_sink=lambda label, p: seen.setdefault(label, []).append(p)
        )
        assert Runner(defs, instance, quiet=True).run(main_job.name, DATASETS)
    assert set(seen) == {"NPI Registry", "Clinical Tables"}
    for label, updates in seen.items():
        assert len(updates) > 1 and updates[-1].done == updates[-1].total > 0, (label, updates[-1])


def test_output_columns_follow_the_contract(built: Built) -> None:
    data_dir = built.data

    def header(path: Path) -> tuple[str, ...]:
        with path.open(newline="") as fh:
            return tuple(next(csv.reader(fh)))

    assert header(data_dir / "mappings/npi/npi_provider_mapping.csv") == NPI_MAPPING_COLUMNS
    assert header(data_dir / "mappings/hcpcs/hcpcs_code_mapping.csv") == HCPCS_MAPPING_COLUMNS
    assert header(data_dir / "unresolved_identifiers.csv") == UNRESOLVED_COLUMNS
    assert header(data_dir / "raw/cpt/cpt_hcpcs_fallback.csv") == FALLBACK_COLUMNS
    assert header(data_dir / "output/triage/npi_identifiers_with_inferred_types.csv") == TRIAGE_COLUMNS
    assert tuple(pq.read_schema(data_dir / "output/npi.parquet").names) == NPI_DATASET_COLUMNS
    assert tuple(pq.read_schema(data_dir / "output/hcpcs.parquet").names) == HCPCS_DATASET_COLUMNS
    npi = pq.read_table(data_dir / "output/npi.parquet").to_pylist()
    assert {r["url"].split(":")[0] for r in npi} >= {"nppes_bulk", "http"}


@pytest.mark.slow
def test_ctrl_c_stops_gracefully_and_the_next_run_resumes(
    data_dir, tmp_path, built: Built, world: WorldControl, world_server
) -> None:
    clean = built.data
    env = child_env({"MEDICAID_DATA_DIR": str(data_dir), **world_env(world_server.base_url)})
    home = tmp_path / "dh"
    paced = cli_command(["build-datasets", "--requests-per-second", "4", "--concurrency", "1"], home)
    proc = subprocess.Popen(
        paced, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_until(lambda: len(_asked(world.requests(), "npi")) >= 2, "the run's second NPI request", timeout=120)
    finally:
        proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output[-3000:]
    assert "stopped early" in output and "FAILED" not in output  # a graceful stop, not a failed step
    stopped_after = len(_asked(world.requests(), "npi"))
    assert (data_dir / "mappings/npi/npi_provider_mapping.csv").is_file()
    run_cli_ok(["build-datasets"], home, env, timeout=300)
    fetched = [
        r["identifiers"] for r in world.requests() if r["api"] == "npi" and r["status"] == 200 and not r["fault"]
    ]
    assert len(fetched) == len(set(fetched))  # no identifier fetched successfully twice
    assert 2 <= stopped_after < len(set(fetched))  # the first run stopped early; the second asked the rest
    faulty, fault_free = _outputs(data_dir), _outputs(clean)
    for name in fault_free:
        assert [r for r in faulty[name] if r not in fault_free[name]] == [], name
    assert faulty == fault_free


def test_reset_map_starts_fresh(built_dir, world: WorldControl, world_server, tmp_path) -> None:
    data_dir = built_dir
    cache = data_dir / "cache/npi/npi_provider_cache.sqlite"
    assert cache.is_file()
    env = child_env({"MEDICAID_DATA_DIR": str(data_dir), **world_env(world_server.base_url)})
    world.clear_requests()
    result = run_cli_ok(["build-datasets", "--reset-map", "--skip-api"], tmp_path / "dh", env, timeout=300)
    assert "--reset-map: removed" in result.stdout
    assert world.requests() == [] or all(r["api"] not in ("npi", "hcpcs") for r in world.requests())
    unresolved = _csv(data_dir / "unresolved_identifiers.csv")
    assert any(r["status"] == "missing_cache" for r in unresolved)  # API-only NPIs were never asked


def test_hcpcs_fallback_csv_override(data_dir, world_server, world_dir) -> None:
    settings = _settings(data_dir, world_server)
    cpt = next(c for c in code_universe(world_spec(world_dir)) if c.kind == "cpt" and c.in_pprrvu)
    custom = data_dir.parent / "my_fallback.csv"
    with custom.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FALLBACK_COLUMNS)
        writer.writerow([cpt.code, "custom descriptor", "custom long", "", "", "", "false", "false", "mine.csv"])
    with dg.instance_for_test() as instance:
        defs = build_definitions(replace(settings), api=FAST_API, fallback_csv=str(custom))
        assert Runner(defs, instance, quiet=True).run(main_job.name, DATASETS)
    mapping = {r["hcpcs_code"]: r for r in _csv(data_dir / "mappings/hcpcs/hcpcs_code_mapping.csv")}
    assert mapping[cpt.code]["short_desc"] == "custom descriptor"
    hcpcs = {r["hcpcs_code"]: r for r in pq.read_table(data_dir / "output/hcpcs.parquet").to_pylist()}
    assert hcpcs[cpt.code]["url"] == f"hcpcs_cache:{custom}"


@pytest.mark.slow
def test_a_partial_run_leaves_outputs_that_agree_with_the_cache(data_dir, world_server) -> None:
    """Stopped at a seeded point (five new lookups, no bulk preload): every output says what the cache says of every
    dataset NPI (missing_cache where it was not asked, never a bulk row), and the share of unresolved warns."""
    config = {"ops": {"identifier_caches": {"config": {"skip_nppes_bulk": True, "max_new_lookups": 5}}}}
    with dg.instance_for_test() as instance:
        runner = Runner(build_definitions(_settings(data_dir, world_server), api=FAST_API), instance, quiet=True)
        assert runner.run(main_job.name, DATASETS, run_config=config)
        checks = {e.check_name: e for r in runner.results for e in r.get_asset_check_evaluations()}
    npis = pq.read_table(data_dir / "assets/resolution/dataset_npis.parquet").column("npi").to_pylist()
    assert npi_disagreements(DataLayout(data_dir), npis) == []
    for name in ("npi_outputs_agree_with_cache", "npi_dataset_one_row_per_npi", "hcpcs_dataset_one_row_per_code"):
        assert checks[name].passed, (name, checks[name].description)
    npi = pq.read_table(data_dir / "output/npi.parquet").to_pylist()
    assert sum(r["error_message"] == "missing_cache" for r in npi) > len(npis) // 2
    assert not any(r["url"].startswith("nppes_bulk") for r in npi if r["error_message"] == "missing_cache")
    share = checks["unresolved_statuses_and_share"]
    assert not share.passed and share.severity == dg.AssetCheckSeverity.WARN and "resume" in share.description


@pytest.mark.slow
def test_output_pages_describe_every_column_and_preview_resolved_rows(data_dir, world_server) -> None:
    with dg.instance_for_test() as instance:
        runner = Runner(build_definitions(_settings(data_dir, world_server), api=FAST_API), instance, quiet=True)
        assert runner.run(main_job.name, DATASETS)
        mats = {
            e.asset_key.to_user_string(): e.materialization.metadata
            for r in runner.results
            for e in r.get_asset_materialization_events()
        }
    for key in ("npi_provider_mapping", "hcpcs_code_mapping", "npi_dataset", "hcpcs_dataset", "triage"):
        columns = mats[f"outputs/{key}"]["dagster/column_schema"].value.columns
        assert all(column.description for column in columns), (key, [c.name for c in columns if not c.description])
    # The file is sorted by NPI, malformed ones first; the preview opens on answered rows.
    first = pq.read_table(data_dir / "output/npi.parquet").slice(0, 1).to_pylist()[0]
    preview = mats["outputs/npi_dataset"]["preview"].value.splitlines()
    assert first["error_message"] and first["npi"] not in preview[2]
    header = [cell.strip() for cell in preview[0].strip("|").split("|")]
    row = [cell.strip() for cell in preview[2].strip("|").split("|")]
    assert row[header.index("error_message")] == "" and is_valid_npi(row[0])

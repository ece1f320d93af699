"""Hugging Face publishing (group ``publish``) against a loopback stand-in for the Hub's HTTP API."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medicaid_assets.cli import main
from medicaid_assets.definitions import build_definitions
from medicaid_assets.defs.publish.dataset_card import parse_front_matter
from medicaid_assets.defs.publish.keys import HF_DATASET
from medicaid_assets.defs.reference.resolution.writers import (
    HCPCS_DATASET_COLUMNS,
    HCPCS_MAPPING_COLUMNS,
    NPI_DATASET_COLUMNS,
    NPI_MAPPING_COLUMNS,
)
from medicaid_assets.layout import DataLayout
from medicaid_assets.settings import PROJECT_ROOT, Settings, child_env
from medicaid_assets_tests.infra.hub_standin import HubStandIn

TOKEN = "hf_TESTtokenNEVERinLOGS0123456789abcdef"
REPO = "medicaid-org/medicaid-provider-spending"
SPENDING = "medicaid-provider-spending.parquet"


def make_outputs(data: Path) -> dict[str, Path]:
    """Small files in the real layout and columns: the spending parquet, the two datasets and the two mappings."""
    layout = DataLayout(data)
    files = {
        "spending": layout.raw_medicaid / SPENDING,
        "npi": layout.npi_dataset,
        "hcpcs": layout.hcpcs_dataset,
        "npi_mapping": layout.npi_mapping,
        "hcpcs_mapping": layout.hcpcs_mapping,
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    spending = {
        "BILLING_PROVIDER_NPI_NUM": ["1234567893", "1245319599"],
        "SERVICING_PROVIDER_NPI_NUM": ["1234567893", None],
        "HCPCS_CODE": ["99213", "A0425"],
        "CLAIM_FROM_MONTH": ["2024-01-01", "2024-02-01"],
        "TOTAL_UNIQUE_BENEFICIARIES": [12, 30],
        "TOTAL_CLAIMS": [14, 41],
        "TOTAL_PAID": [1022.5, 0.0],
    }
    pq.write_table(pa.table(spending), files["spending"])
    pq.write_table(pa.table({c: ["x", "y", "z"] for c in NPI_DATASET_COLUMNS}), files["npi"])
    pq.write_table(pa.table({c: ["x", "y"] for c in HCPCS_DATASET_COLUMNS}), files["hcpcs"])
    for name, columns in (("npi_mapping", NPI_MAPPING_COLUMNS), ("hcpcs_mapping", HCPCS_MAPPING_COLUMNS)):
        with files[name].open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            writer.writerows([[f"{name}-{i}-{c}" for c in columns] for i in range(4)])
    return files


@pytest.fixture
def hub(tmp_path: Path) -> HubStandIn:
    with HubStandIn(tmp_path / "hub", token=TOKEN) as hub:
        yield hub


@pytest.fixture
def env(tmp_path: Path, hub: HubStandIn, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process's environment for a publish: data dir, repo, endpoint, token (restored afterwards)."""
    data = tmp_path / "data"
    for key, value in {
        "MEDICAID_DATA_DIR": str(data),
        "MEDICAID_HF_REPO_ID": REPO,
        "MEDICAID_HF_ENDPOINT": hub.url,
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }.items():
        monkeypatch.setenv(key, value)
    return data


def assert_token_never_recorded(home: Path, *texts: str) -> list[dg.DagsterRun]:
    """The token is in no log line, event, run config or tag of the instance, nor in ``texts`` (console output)."""
    for text in texts:
        assert TOKEN not in text
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        for run in runs:
            assert TOKEN not in str(run.run_config) and TOKEN not in str(run.tags)
            for entry in instance.all_logs(run.run_id):
                assert TOKEN not in str(entry), entry
    return runs


def card(hub: HubStandIn) -> dict:
    return parse_front_matter(hub.files("datasets", REPO)["README.md"].decode())


def test_publish_uploads_the_datasets_mappings_and_a_card_with_three_configs(
    tmp_path: Path, env: Path, hub: HubStandIn, capsys: pytest.CaptureFixture
) -> None:
    local = make_outputs(env)
    home = tmp_path / "dagster_home"
    assert main(["publish", "--dagster-home", str(home)]) == 0
    out = capsys.readouterr()
    assert f"published to {hub.url}/datasets/{REPO}" in out.out
    repo = hub.files("datasets", REPO)
    assert set(repo) == {
        "README.md",
        f"spending/{SPENDING}",
        "npi/npi.parquet",
        "hcpcs/hcpcs.parquet",
        "mappings/npi_provider_mapping.csv",
        "mappings/hcpcs_code_mapping.csv",
    }
    assert repo[f"spending/{SPENDING}"] == local["spending"].read_bytes()
    assert repo["npi/npi.parquet"] == local["npi"].read_bytes()
    assert repo["mappings/hcpcs_code_mapping.csv"] == local["hcpcs_mapping"].read_bytes()
    front = card(hub)
    assert [(c["config_name"], c["data_files"][0]["path"]) for c in front["configs"]] == [
        ("spending", f"spending/{SPENDING}"),
        ("npi", "npi/npi.parquet"),
        ("hcpcs", "hcpcs/hcpcs.parquet"),
    ]
    assert front["configs"][0]["default"] is True
    body = repo["README.md"].decode()
    assert f'load_dataset("{REPO}", "npi", split="train")' in body and "| `npi/npi.parquet` | 3 |" in body
    # One commit for everything, with the token on every call.
    commits = [r for r in hub.requests if r["path"].startswith(f"/api/datasets/{REPO}/commit/")]
    assert len(commits) == 1 and all(r["authorized"] for r in hub.requests)
    runs = assert_token_never_recorded(home, out.out, out.err)
    assert [r.job_name for r in runs] == ["publish"] and runs[0].is_success


def test_skip_spending_path_overrides_and_single_uploads(
    tmp_path: Path, env: Path, hub: HubStandIn, capsys: pytest.CaptureFixture
) -> None:
    make_outputs(env)
    home = str(tmp_path / "dagster_home")
    assert main(["publish", "--dagster-home", home]) == 0
    # The original's flags: the big file left out, datasets at other paths; the card keeps the spending config
    # (its file is already in the repo) and points npi/hcpcs at the new paths.
    flags = ["--hf-skip-spending", "--hf-npi-path-in-repo", "data/npi.parquet"]
    flags += ["--hf-hcpcs-path-in-repo", "data/hcpcs.parquet", "--hf-commit-message", "weekly refresh"]
    assert main(["publish", "--dagster-home", home, *flags]) == 0
    assert hub.commits[-1] == {
        "summary": "weekly refresh",
        "paths": [
            "data/npi.parquet",
            "data/hcpcs.parquet",
            "mappings/npi_provider_mapping.csv",
            "mappings/hcpcs_code_mapping.csv",
            "README.md",
        ],
    }
    assert {"data/npi.parquet", "data/hcpcs.parquet"} <= set(hub.files("datasets", REPO))
    assert [(c["config_name"], c["data_files"][0]["path"]) for c in card(hub)["configs"]] == [
        ("spending", f"spending/{SPENDING}"),
        ("npi", "data/npi.parquet"),
        ("hcpcs", "data/hcpcs.parquet"),
    ]
    # Any --hf-upload-* flag: only those files (and the card), the original's opt-in behaviour.
    assert main(["publish", "--dagster-home", home, "--hf-upload-mapping", "--hf-mapping-path-in-repo", "m.csv"]) == 0
    assert hub.commits[-1]["paths"] == ["m.csv", "README.md"]
    assert hub.files("datasets", REPO)["m.csv"] == (env / "mappings/npi/npi_provider_mapping.csv").read_bytes()
    assert len(hub.commits) == 3
    out = capsys.readouterr()
    assert_token_never_recorded(Path(home), out.out, out.err)


def test_missing_outputs_or_repo_fail_before_any_upload(
    tmp_path: Path, env: Path, hub: HubStandIn, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = str(tmp_path / "dagster_home")
    assert main(["publish", "--dagster-home", home]) == 1  # nothing built yet
    assert hub.requests == []
    out = capsys.readouterr().out
    assert "nothing was uploaded: missing" in out and "npi.parquet" in out and "publish FAILED" in out
    monkeypatch.delenv("MEDICAID_HF_REPO_ID")
    make_outputs(env)
    assert main(["publish", "--dagster-home", home]) == 1
    assert "set MEDICAID_HF_REPO_ID or pass --hf-repo-id" in capsys.readouterr().out and hub.requests == []
    with dg.DagsterInstance.from_config(home) as instance:
        run = instance.get_runs()[-1]  # the first, oldest
        failure = [e for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.is_step_failure]
        assert "materialize the outputs first" in str(failure[0].dagster_event.step_failure_data.error)


def test_the_token_is_masked_even_when_the_hub_echoes_it_in_an_error(
    tmp_path: Path, env: Path, hub: HubStandIn, capsys: pytest.CaptureFixture
) -> None:
    make_outputs(env)
    hub.fail_commits_with = f"invalid credentials: Bearer {TOKEN}"
    home = tmp_path / "dagster_home"
    assert main(["publish", "--dagster-home", str(home)]) == 1
    out = capsys.readouterr()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        errors = [
            str(e.dagster_event.step_failure_data.error)
            for e in instance.all_logs(run.run_id)
            if e.dagster_event and e.dagster_event.is_step_failure
        ]
    assert errors and "publish failed" in errors[0] and "Bearer ***" in errors[0]
    assert_token_never_recorded(home, out.out, out.err)


def test_the_token_is_an_env_var_in_config_and_hidden_in_reprs(env: Path) -> None:
    settings = Settings.from_env()
    assert settings.hf_token == TOKEN and TOKEN not in repr(settings)
    defs = build_definitions(settings)
    resource = defs.resources["huggingface"]
    assert TOKEN not in repr(resource)
    assert resource.token == dg.EnvVar("HF_TOKEN")  # resolved by Dagster at run time, shown by name only


def test_publish_is_opt_in_and_storage_exists_only_with_a_bucket() -> None:
    defs = build_definitions(Settings.from_env({}))
    main_job = defs.resolve_job_def("medicaid_pipeline").asset_layer.selected_asset_keys
    weekly = defs.resolve_job_def("nppes_weekly_job").asset_layer.selected_asset_keys
    assert HF_DATASET not in main_job and HF_DATASET not in weekly
    assert defs.resolve_job_def("publish").asset_layer.selected_asset_keys == {HF_DATASET}
    assert not [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "storage"]
    assert "object_store" not in defs.resources
    with_bucket = build_definitions(Settings.from_env({"MEDICAID_OBJECT_STORE_URL": "s3://bucket/prefix"}))
    job = with_bucket.resolve_job_def("medicaid_pipeline")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys if k.path[0] == "storage"} == {
        "storage/restored_sources",
        "storage/restored_caches",
        "storage/mirrored_sources",
        "storage/mirrored_outputs",
    }
    # The restores come first in a run (not only in the graph): sources and lookups wait for them.
    upstream = job.graph.dependency_structure.all_upstream_outputs_from_node
    assert "storage__restored_sources" in {o.node_name for o in upstream("raw__medicaid_spending_file")}
    assert "storage__restored_caches" in {o.node_name for o in upstream("identifier_caches")}
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        build_definitions(Settings.from_env({"MEDICAID_OBJECT_STORE_URL": "bucket/prefix"}))


@pytest.mark.slow
def test_publish_command_with_the_original_flags_in_lfs_mode(tmp_path: Path) -> None:
    """`medicaid-assets publish` as a user runs it; large files through the Hub's (legacy) LFS upload."""
    data = tmp_path / "data"
    local = make_outputs(data)
    with HubStandIn(tmp_path / "hub", mode="lfs", token=TOKEN) as hub:
        env = child_env(
            {
                "MEDICAID_DATA_DIR": str(data),
                "HF_HOME": str(tmp_path / "hf_home"),
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_XET": "1",  # the stand-in speaks legacy LFS, not Xet
            }
        )
        env.pop("HF_TOKEN", None)
        home = tmp_path / "dagster_home"
        cmd = [sys.executable, "-m", "medicaid_assets.cli", "publish", "--dagster-home", str(home)]
        cmd += ["--hf-token", TOKEN, "--hf-repo-id", REPO, "--hf-repo-type", "dataset", "--hf-endpoint", hub.url]
        result = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        repo = hub.files("datasets", REPO)
        assert repo[f"spending/{SPENDING}"] == local["spending"].read_bytes()
        assert repo["hcpcs/hcpcs.parquet"] == local["hcpcs"].read_bytes()
        lfs_puts = [r for r in hub.requests if r["method"] == "PUT" and r["path"].startswith("/lfs-upload/")]
        assert len(lfs_puts) == 6  # five files and the card, each through the LFS batch API
        assert all(r["authorized"] for r in hub.requests if r["path"].startswith("/api/"))
    assert [c["config_name"] for c in parse_front_matter(repo["README.md"].decode())["configs"]] == [
        "spending",
        "npi",
        "hcpcs",
    ]
    assert_token_never_recorded(home, result.stdout, result.stderr)

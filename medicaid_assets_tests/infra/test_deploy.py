"""The deployment recipe in deploy/ is consistent: instance profiles Dagster accepts, services wired together.

(The PostgreSQL profile is run for real in test_postgres_instance.py; Docker, Kubernetes and Celery are not
available here, so their files are checked for shape and for pointing at this code location.)
"""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import ConfigurableClassData

from medicaid_assets.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
PG_ENV = {
    "DAGSTER_PG_HOST": "db",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USER": "u",
    "DAGSTER_PG_PASSWORD": "p",
    "DAGSTER_PG_DB": "d",
}


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def test_every_yaml_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert {p.relative_to(DEPLOY).as_posix() for p in files} >= {
        "dagster.postgres.yaml",
        "dagster.docker.yaml",
        "workspace.docker.yaml",
        "docker-compose.yaml",
        "helm/values.yaml",
        "run-launchers/kubernetes.yaml",
        "run-launchers/celery.yaml",
        "run-launchers/docker.yaml",
    }
    for path in files:
        assert isinstance(yaml.safe_load(path.read_text()), dict), path


@pytest.mark.parametrize("profile", ["dagster.postgres.yaml", "dagster.docker.yaml"])
def test_instance_profiles_pass_dagsters_schema(profile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in PG_ENV.items():
        monkeypatch.setenv(key, value)
    shutil.copy(DEPLOY / profile, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    db = config["storage"]["postgres"]["postgres_db"]
    assert db["scheme"] == "postgresql+psycopg2" and db["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert config["concurrency"]["pools"]["default_limit"] == 1
    for section in ("run_launcher", "run_coordinator"):
        if section in config:
            entry = config[section]
            ConfigurableClassData(entry["module"], entry["class"], yaml.safe_dump(entry.get("config", {}))).rehydrate(
                object
            )


def test_compose_runs_webserver_daemon_and_code_server_on_one_instance() -> None:
    compose = load("docker-compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres", "code", "webserver", "daemon"}
    workspace = load("workspace.docker.yaml")["load_from"][0]["grpc_server"]
    code = services["code"]["command"]
    assert workspace["host"] == "code" and code[code.index("-p") + 1] == str(workspace["port"])
    importlib.import_module(code[code.index("-m") + 1])  # the module the code server loads exists
    for name in ("code", "webserver", "daemon"):
        service = services[name]
        assert "./dagster.docker.yaml:/opt/dagster/dagster_home/dagster.yaml:ro" in service["volumes"]
        assert service["environment"]["DAGSTER_PG_HOST"] == "postgres"
        assert "DAGSTER_PG_PASSWORD" in service["environment"]
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    # Only the container that runs the assets mounts the data and receives the bucket and Hub credentials.
    assert [n for n, s in services.items() if "data:/data" in s.get("volumes", [])] == ["code"]
    assert [n for n, s in services.items() if "env_file" in s] == ["code"]
    assert services["webserver"]["ports"] == ["127.0.0.1:3000:3000"]


def test_helm_values_point_at_this_code_location_with_postgres_and_k8s_runs() -> None:
    values = load("helm/values.yaml")
    [deployment] = values["dagster-user-deployments"]["deployments"]
    args = deployment["codeServerArgs"]
    importlib.import_module(args[args.index("-m") + 1])
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is False
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["concurrency"]["pools"]["defaultLimit"] == 1
    env = {e["name"] for e in deployment["env"]}
    assert "MEDICAID_OBJECT_STORE_URL" in env and "HF_TOKEN" not in env  # secrets come from envSecrets only


def test_no_secret_values_in_the_recipe() -> None:
    example = dict(line.split("=", 1) for line in (DEPLOY / ".env.example").read_text().splitlines() if "=" in line)
    assert example["HF_TOKEN"] == "" and example["AWS_SECRET_ACCESS_KEY"] == ""
    assert example["DAGSTER_PG_PASSWORD"] == "change-me"
    for path in DEPLOY.rglob("*"):
        if path.is_file():  # no Hub token (hf_...) nor AWS access key id (AKIA...) written into any file
            assert not re.search(r"\bhf_[A-Za-z0-9]{20,}|\bAKIA[0-9A-Z]{16}\b", path.read_text()), path

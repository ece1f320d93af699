"""Fixtures for the beyond-one-machine tests: a real S3-compatible server (moto) on loopback, AWS env for boto3, and
one ``./run demo`` on a PostgreSQL instance with object storage that the instance and the storage tests both read."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medicaid_assets.settings import PROJECT_ROOT, child_env
from medicaid_assets_tests.infra import postgres as pg
from medicaid_assets_tests.support.cli import run_cli_ok
from medicaid_assets_tests.support.ports import free_port

# Throwaway credentials for the local server; the tests check they never reach a log.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIATESTLOCALONLY000",
    "AWS_SECRET_ACCESS_KEY": "local-secret-" + uuid.uuid4().hex,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self):
        from medicaid_assets.core.object_store import make_s3_client

        return make_s3_client(self.endpoint_url, "us-east-1")

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The throwaway credentials in this process's environment (boto3 reads them itself)."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    return AWS_ENV


@pytest.fixture
def bucket(s3_server: S3Server, aws_env: dict[str, str]) -> str:
    return s3_server.new_bucket()


PREFIX = "medicaid/prod"
PG_PROFILE = PROJECT_ROOT / "deploy" / "dagster.postgres.yaml"


def storage_env(data: Path, s3: S3Server, bucket: str) -> dict[str, str]:
    return {
        "MEDICAID_DATA_DIR": str(data),
        "MEDICAID_OBJECT_STORE_URL": f"s3://{bucket}/{PREFIX}",
        "MEDICAID_S3_ENDPOINT_URL": s3.endpoint_url,
        "MEDICAID_S3_REGION": "us-east-1",
    }


@dataclass(frozen=True)
class InfraDemo:
    """What one ``medicaid-assets demo`` with object storage (and a PostgreSQL instance, where one can run) left."""

    tmp: Path
    data: Path
    home: Path
    bucket: str
    result: subprocess.CompletedProcess[str]
    postgres: pg.Postgres | None  # None: no server here (the instance was SQLite in ``home``)
    postgres_unavailable: str | None


@pytest.fixture(scope="session")
def infra_demo(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfraDemo]:
    """The README's ``./run demo`` as a user runs it with ``MEDICAID_OBJECT_STORE_URL`` set and Dagster's PostgreSQL
    profile: one demo proves both (each ~1-2 min), the embedded-default demo is tested on its own (test_cli)."""
    tmp = tmp_path_factory.mktemp("infra_demo")
    data, home = tmp / "data", tmp / "dagster_home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in AWS_ENV.items():
            mp.setenv(key, value)
        bucket = s3_server.new_bucket()
    with contextlib.ExitStack() as stack:
        unavailable = pg.available()
        server = None if unavailable else stack.enter_context(pg.postgres_server("dagster"))
        if server is not None:
            shutil.copy(PG_PROFILE, home / "dagster.yaml")
        env = child_env(
            {**AWS_ENV, **storage_env(data, s3_server, bucket), **(server.instance_env() if server else {})}
        )
        result = run_cli_ok(["demo", "--world-port", str(free_port())], home, env)
        yield InfraDemo(tmp, data, home, bucket, result, server, unavailable)

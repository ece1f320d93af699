"""Fixtures for the beyond-one-machine tests: a real S3-compatible server (moto) on loopback, AWS env for boto3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

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

"""The loopback S3 server (moto) of the infra tests, shared here without moving it."""

from medicaid_assets_tests.infra.conftest import aws_env, bucket, s3_server  # noqa: F401

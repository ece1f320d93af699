"""The moto S3 server and throwaway AWS credentials, shared with the infra tests."""

from medicaid_assets_tests.infra.conftest import aws_env, bucket, s3_server  # noqa: F401

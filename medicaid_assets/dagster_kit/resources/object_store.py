"""The S3-compatible bucket that keeps raw files, caches and outputs (``MEDICAID_OBJECT_STORE_URL``).

Only configured when that variable is set; then the ``storage`` assets mirror the data directory to the bucket and
restore it on a fresh machine. Credentials are not fields: boto3 reads them itself (``AWS_ACCESS_KEY_ID``/
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, an instance or pod role), so they never reach run config or the UI.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from medicaid_assets.core.object_store import MiB, ObjectStore, TransferConfig, make_s3_client, parse_object_store_url


class ObjectStoreResource(dg.ConfigurableResource):
    """``s3://bucket/prefix`` on AWS S3 or any S3-compatible server (MinIO, Ceph, R2, …)."""

    url: str = Field(description="s3://bucket/prefix; keys below it mirror the data directory")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint; unset = AWS S3")
    region: str | None = Field(default=None, description="bucket region; unset = boto3's default")
    multipart_threshold_bytes: int = Field(default=64 * MiB, description="files this large go up in parts")
    part_size_bytes: int = Field(default=64 * MiB, description="bytes per part (grown to stay under 10,000 parts)")
    max_concurrency: int = Field(default=4, description="parts in flight per file")
    attempts: int = Field(default=3, description="tries per file; each failed try leaves nothing visible")
    backoff_seconds: float = 1.0

    def store(self) -> ObjectStore:
        bucket, prefix = parse_object_store_url(self.url)
        client = make_s3_client(self.endpoint_url, self.region, max_pool_connections=max(10, 2 * self.max_concurrency))
        config = TransferConfig(
            multipart_threshold=self.multipart_threshold_bytes,
            part_size=self.part_size_bytes,
            max_concurrency=self.max_concurrency,
            attempts=self.attempts,
            backoff_seconds=self.backoff_seconds,
        )
        return ObjectStore(client, bucket, prefix, config)

"""Where the rates warehouse's tiles are stored: a local directory or ``s3://bucket/prefix`` (``MEDICAID_RATES_TILES_URL``).

Re-writing one price-transparency partition replaces exactly its files: the new ones are written to a staging folder,
moved (local: ``os.replace``, atomic per file) or uploaded (S3: staging key then server-side copy) over the old names,
and only then are that partition's files no longer produced deleted. A crash between leaves every old file or its
replacement, never part of one; the next run removes any stale file. S3 credentials are never configuration: boto3
reads them from the standard AWS environment.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import Field

from medicaid_assets.core.object_store import ObjectStore, make_s3_client, parse_object_store_url
from medicaid_assets.defs.rates_warehouse.tiles import copy_tiles
from medicaid_assets.settings import Settings


def _owned(relative: str, file_key: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return name.startswith(f"{file_key}_") and name.endswith(".parquet") and name[len(file_key) + 1 : -8].isdigit()


class TilesResource(dg.ConfigurableResource):
    """Where the tiles go: a local directory or ``s3://bucket/prefix`` (AWS or any S3-compatible endpoint)."""

    base: str = Field(description="local directory or s3://bucket/prefix; the tiles of a table go below <base>/<table>")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint; unset = AWS S3")
    s3_region: str | None = Field(default=None, description="region of the bucket")
    staging_dir: str | None = Field(default=None, description="local folder for staged tiles (default: system temp)")

    @property
    def is_remote(self) -> bool:
        return self.base.startswith("s3://")

    def location(self, table: str) -> str:
        return f"{self.base.rstrip('/')}/{table}"

    def _store(self, table: str) -> ObjectStore:
        bucket, prefix = parse_object_store_url(self.location(table))
        return ObjectStore(make_s3_client(self.s3_endpoint_url, self.s3_region), bucket, prefix)

    def replace_partition(
        self,
        conn: duckdb.DuckDBPyConnection,
        sql: str,
        table: str,
        file_key: str,
        summarize: Callable[[str], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Write ``sql``'s rows as the tiles of ``file_key``, replacing exactly that partition's previous tiles;
        ``summarize`` gets the staged files' glob (read with ``hive_partitioning``) before they are published."""
        if self.is_remote:
            staging_root = Path(self.staging_dir or tempfile.gettempdir())
        else:
            staging_root = Path(self.location(table)).parent / f".{table}.staging"
        staging_root.mkdir(parents=True, exist_ok=True)
        staged = staging_root / uuid.uuid4().hex
        try:
            rows = copy_tiles(conn, sql, staged, file_key)
            new = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*.parquet"))
            summary = summarize(f"{staged}/**/*.parquet") if summarize and new else {}
            removed = self._publish(table, staged, new, file_key)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        return {
            "rows": rows,
            "files": len(new),
            "stale_files_removed": removed,
            "location": self.location(table),
            **summary,
        }

    def _publish(self, table: str, staged: Path, new: list[str], file_key: str) -> int:
        keep = set(new)
        if self.is_remote:
            store = self._store(table)
            for relative in new:
                store.put_file(staged / relative, relative)
            stale = [o.relative for o in store.list() if _owned(o.relative, file_key) and o.relative not in keep]
            for relative in stale:
                store.client.delete_object(Bucket=store.bucket, Key=store.key(relative))
            return len(stale)
        root = Path(self.location(table))
        for relative in new:
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged / relative, target)
        stale = [
            p
            for p in root.rglob(f"{file_key}_*.parquet")
            if _owned(p.name, file_key) and p.relative_to(root).as_posix() not in keep
        ]
        for path in stale:
            path.unlink()
        return len(stale)


def tiles_from_settings(settings: Settings) -> TilesResource:
    """Tiles under ``MEDICAID_RATES_TILES_URL`` (default ``<data dir>/tiles``), S3 endpoint/region from settings."""
    return TilesResource(
        base=settings.rates_tiles_url or str(settings.data_dir / "tiles"),
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_region=settings.s3_region,
    )

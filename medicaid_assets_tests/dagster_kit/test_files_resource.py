"""HttpFilesResource: the one download helper every family uses (its attempts, progress log, reuse)."""

import logging
from pathlib import Path

import pytest

from medicaid_assets.core.download import DownloadError
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.sample_world.urls import disk_path, local_url
from medicaid_assets.settings import DEFAULT_NPPES_FILES_PAGE_URL, DEFAULT_SPENDING_URL


def test_download_uses_the_resources_attempts_logs_progress_and_reuses(
    world: WorldControl, world_server: WorldServer, world_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = local_url(world_server.base_url, DEFAULT_SPENDING_URL)
    dest = tmp_path / "spending.parquet"
    files = HttpFilesResource(attempts=2, backoff_seconds=0.01)
    world.set_faults(rate=1.0, kinds=["503"], scope="files")
    with pytest.raises(DownloadError, match="gave up after 2 attempts; last error: HTTP 503"):
        files.download(url, dest)
    world.clear_faults()
    log = logging.getLogger("test_files_resource")
    with caplog.at_level(logging.INFO, logger=log.name):
        result = files.download(url, dest, log=log, validate=lambda path: None)
    assert (
        not result.reused and dest.read_bytes() == (world_dir / "files" / disk_path(DEFAULT_SPENDING_URL)).read_bytes()
    )
    assert any(dest.name in record.getMessage() for record in caplog.records)
    world.clear_requests()
    assert files.download(url, dest).reused and world.requests() == []


def test_get_page_defaults_to_the_resources_attempts(world: WorldControl, world_server: WorldServer) -> None:
    url = local_url(world_server.base_url, DEFAULT_NPPES_FILES_PAGE_URL)
    files = HttpFilesResource(attempts=3, backoff_seconds=0.01)
    world.set_faults(rate=1.0, kinds=["500"], scope="files")
    assert files.get_page(url).status_code == 500
    assert files.get_page(url, attempts=1).status_code == 500
    assert sum(r["method"] == "GET" for r in world.requests()) == 4

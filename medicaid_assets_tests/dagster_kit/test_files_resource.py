"""HttpFilesResource: the one download helper every family uses (its attempts, progress log, reuse)."""

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from medicaid_assets.core.download import DownloadError
from medicaid_assets.dagster_kit.resources.files import HttpFilesResource
from medicaid_assets.defs.price_transparency.safety import UnsafeUrlError, check_url
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


def test_a_guard_vets_every_redirect_before_it_is_followed(tmp_path: Path) -> None:
    """A third party's file that redirects to a private address: the price-transparency URL check refuses the
    redirect target before any request reaches it, and nothing is written."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            if self.path == "/in-network.json":
                self.send_response(302)
                self.send_header("Location", "/internal/metadata")
                self.end_headers()
            else:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    start = f"http://127.0.0.1:{server.server_port}/in-network.json"

    def guard(url: str) -> None:  # the payer's own URL is trusted here; where it leads is checked as public
        check_url(url, allow_private=url == start)

    try:
        with pytest.raises(UnsafeUrlError, match="private/loopback"):
            HttpFilesResource(attempts=1).download(start, tmp_path / "file.json", guard=guard)
    finally:
        server.shutdown()
    assert hits == ["/in-network.json"] and list(tmp_path.iterdir()) == []

"""Downloads against the sample-world server: reuse, Range resume, faults, HTML pages, validation."""

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from medicaid_assets.core.download import DownloadError, download, meta_path, part_path
from medicaid_assets.sample_world.server import WorldControl, WorldServer
from medicaid_assets.sample_world.urls import disk_path, local_url
from medicaid_assets.settings import DEFAULT_NPPES_FILES_PAGE_URL, DEFAULT_SPENDING_URL


@pytest.fixture
def spending(world_server: WorldServer, world_dir: Path) -> tuple[str, bytes]:
    url = local_url(world_server.base_url, DEFAULT_SPENDING_URL)
    return url, (world_dir / "files" / disk_path(DEFAULT_SPENDING_URL)).read_bytes()


def _gets(world: WorldControl) -> list[dict]:
    return [r for r in world.requests() if r["method"] == "GET" and r["api"] == "files"]


def test_download_then_reuse_without_any_request(world: WorldControl, spending, tmp_path: Path) -> None:
    url, body = spending
    dest = tmp_path / "raw" / "spending.parquet"
    with httpx.Client() as client:
        first = download(client, url, dest)
        assert not first.reused and dest.read_bytes() == body
        assert first.sha256 == hashlib.sha256(body).hexdigest() and first.etag
        world.clear_requests()
        second = download(client, url, dest)
    assert second.reused and second.sha256 == first.sha256
    assert world.requests() == []
    assert json.loads(meta_path(dest).read_text())["url"] == url
    assert not part_path(dest).exists()


def test_partial_file_resumes_with_a_range_request(world: WorldControl, spending, tmp_path: Path) -> None:
    url, body = spending
    dest = tmp_path / "spending.parquet"
    with httpx.Client() as client:
        head = client.head(url)
    half = len(body) // 2
    part_path(dest).write_bytes(body[:half])
    meta_path(part_path(dest)).write_text(json.dumps({"url": url, "etag": head.headers["etag"]}))
    with httpx.Client() as client:
        result = download(client, url, dest)
    assert result.resumed_from == half and dest.read_bytes() == body
    assert _gets(world)[-1]["range"] == f"bytes={half}-"
    assert result.sha256 == hashlib.sha256(body).hexdigest()


def test_truncated_transfers_are_retried_and_resumed(world: WorldControl, spending, tmp_path: Path) -> None:
    url, body = spending
    dest = tmp_path / "spending.parquet"
    world.set_faults(rate=1.0, kinds=["truncate"], scope="files")
    with (
        httpx.Client() as client,
        pytest.raises(
            DownloadError, match="gave up after 2 attempts; last error: RemoteProtocolError: peer closed connection"
        ),
    ):
        download(client, url, dest, attempts=2, backoff_seconds=0.01)
    assert not dest.exists() and part_path(dest).stat().st_size > 0
    world.clear_faults()
    with httpx.Client() as client:
        result = download(client, url, dest)
    assert result.resumed_from > 0 and dest.read_bytes() == body


@pytest.mark.parametrize(
    ("kind", "message"), [("503", "HTTP 503"), ("429", "HTTP 429"), ("drop", "RemoteProtocolError")]
)
def test_persistent_faults_give_up_with_the_cause(world: WorldControl, spending, tmp_path: Path, kind, message) -> None:
    url, _ = spending
    world.set_faults(rate=1.0, kinds=[kind], scope="files")
    with httpx.Client() as client, pytest.raises(DownloadError, match=message):
        download(client, url, tmp_path / "s.parquet", attempts=2, backoff_seconds=0.01)
    assert not (tmp_path / "s.parquet").exists()
    assert len([r for r in world.requests() if r["fault"] == kind]) == 2


def test_intermittent_faults_are_retried_to_a_complete_file(world: WorldControl, spending, tmp_path: Path) -> None:
    url, body = spending
    world.set_faults(rate=0.5, kinds=["503", "drop", "truncate", "500"], scope="files", seed=4)
    with httpx.Client() as client:
        for i in range(10):  # until at least one download met a fault
            result = download(client, url, tmp_path / f"s{i}.parquet", attempts=10, backoff_seconds=0.01)
            assert (tmp_path / f"s{i}.parquet").read_bytes() == body and result.size == len(body)
            if any(r["fault"] for r in world.requests()):
                break
    assert any(r["fault"] for r in world.requests())


def test_html_page_never_replaces_a_good_file(world: WorldControl, spending, world_server, tmp_path: Path) -> None:
    url, body = spending
    dest = tmp_path / "spending.parquet"
    with httpx.Client() as client:
        download(client, url, dest)
        page = local_url(world_server.base_url, DEFAULT_NPPES_FILES_PAGE_URL)
        with pytest.raises(DownloadError, match="HTML page instead of the file") as err:
            download(client, page, dest)
    assert page in str(err.value)
    assert dest.read_bytes() == body and not part_path(dest).exists()


def test_failed_validation_keeps_the_previous_file(world: WorldControl, spending, tmp_path: Path) -> None:
    url, _ = spending
    dest = tmp_path / "spending.parquet"
    dest.write_bytes(b"previous good file")
    meta_path(dest).write_text(json.dumps({"url": "http://elsewhere/old", "sha256": "x"}))

    def reject(path: Path) -> None:
        raise ValueError("footer unreadable")

    with httpx.Client() as client, pytest.raises(DownloadError, match="failed validation"):
        download(client, url, dest, validate=reject)
    assert dest.read_bytes() == b"previous good file" and not part_path(dest).exists()


def test_missing_file_is_a_clear_error(world_server, tmp_path: Path) -> None:
    url = f"{world_server.base_url}/www.cms.gov/files/zip/no-such-file.zip"
    with httpx.Client() as client, pytest.raises(DownloadError, match="404"):
        download(client, url, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()

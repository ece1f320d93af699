"""The sample-world server over real loopback HTTP: static files, faults, control routes, request log."""

from __future__ import annotations

import http.client
import json
import os
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from medicaid_assets.sample_world.providers import npi_for_index, weekly_bundles
from medicaid_assets.sample_world.server import (
    FAULT_KINDS,
    HCPCS_PATH,
    NPI_PATH,
    Faults,
    WorldControl,
    WorldServer,
)
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import local_url
from medicaid_assets.settings import DEFAULT_NPPES_FILES_PAGE_URL

SPEC = WorldSpec(seed=3, scale=0.0001)
BLOB = "example.org/data/blob.bin"
PAGE = "www.cms.gov/medicare/payment/fee-schedules/physician/national-payment-amount-file/pfrev26a"
BLOB_BYTES = os.urandom((1 << 20) * 2 + 12345)  # more than two streaming chunks


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = tmp_path_factory.mktemp("world")
    (world / "world.json").write_text(json.dumps({"spec": {"seed": 3, "scale": 0.0001, "rows": None}}))
    for rel, data in ((BLOB, BLOB_BYTES), (PAGE, b"<html><a href='/files/zip/x.zip'>x</a></html>")):
        (world / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
        (world / "files" / rel).write_bytes(data)
    return world


@pytest.fixture(scope="module")
def server(world_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("log") / "requests.jsonl"
    with WorldServer(world_dir, request_log=log) as running:
        yield running


@pytest.fixture
def control(server: WorldServer) -> WorldControl:
    control = WorldControl(server.base_url)
    control.clear_faults()
    control.clear_requests()
    control.publish_weeklies(None)
    return control


def _url(server: WorldServer, rel: str) -> str:
    return f"{server.base_url}/{rel}"


def _npi_url(server: WorldServer) -> str:
    return f"{server.base_url}{NPI_PATH}/?version=2.1&number={npi_for_index(SPEC, 0)}"


# -- static files ------------------------------------------------------------------------------
def test_head_and_get(server: WorldServer, control: WorldControl) -> None:
    head = httpx.head(_url(server, BLOB))
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(BLOB_BYTES)
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["etag"].startswith('"') and head.headers["last-modified"].endswith("GMT")
    assert head.headers["content-type"] == "application/octet-stream"
    get = httpx.get(_url(server, BLOB))
    assert get.content == BLOB_BYTES and get.headers["etag"] == head.headers["etag"]
    assert httpx.get(_url(server, PAGE)).headers["content-type"].startswith("text/html")


def test_keep_alive_connection_serves_a_mix(server: WorldServer, control: WorldControl) -> None:
    """HEAD, 304 and 416 carry no body; a reused HTTP/1.1 connection must stay in step after them."""
    with httpx.Client(base_url=server.base_url) as client:
        etag = client.head(f"/{BLOB}").headers["etag"]
        assert client.get(f"/{BLOB}", headers={"If-None-Match": etag}).status_code == 304
        assert client.get(f"/{BLOB}", headers={"Range": f"bytes={len(BLOB_BYTES)}-"}).status_code == 416
        assert client.get(f"{NPI_PATH}/", params={"version": "2.1"}).json()["Errors"]
        assert client.get(f"/{BLOB}", headers={"Range": "bytes=1-3"}).content == BLOB_BYTES[1:4]
    assert [e["status"] for e in control.requests()] == [200, 304, 416, 200, 206]


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=10-19", 10, 19),
        ("bytes=2097150-", 2097150, None),
        ("bytes=-100", -100, None),
        ("bytes=5-99999999", 5, None),
    ],
)
def test_range(server: WorldServer, control: WorldControl, spec: str, start: int, end: int | None) -> None:
    response = httpx.get(_url(server, BLOB), headers={"Range": spec})
    assert response.status_code == 206
    expected = BLOB_BYTES[start : None if end is None else end + 1]
    assert response.content == expected
    first = start % len(BLOB_BYTES)
    assert response.headers["content-range"] == f"bytes {first}-{first + len(expected) - 1}/{len(BLOB_BYTES)}"


def test_unsatisfiable_range_and_validators(server: WorldServer, control: WorldControl) -> None:
    size = len(BLOB_BYTES)
    for spec in (f"bytes={size}-", "bytes=-0"):
        response = httpx.get(_url(server, BLOB), headers={"Range": spec})
        assert response.status_code == 416 and response.headers["content-range"] == f"bytes */{size}"
    etag = httpx.head(_url(server, BLOB)).headers["etag"]
    not_modified = httpx.get(_url(server, BLOB), headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    fresh = httpx.get(_url(server, BLOB), headers={"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == BLOB_BYTES[:10]
    stale = httpx.get(_url(server, BLOB), headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and stale.content == BLOB_BYTES


def test_missing_traversal_and_methods(server: WorldServer, control: WorldControl) -> None:
    assert httpx.get(_url(server, "example.org/nope.zip")).status_code == 404
    assert httpx.get(_url(server, "example.org/data")).status_code == 404
    conn = http.client.HTTPConnection(*urlsplit(server.base_url).netloc.split(":"))
    conn.request("GET", "/example.org/%2e%2e/%2e%2e/world.json")
    assert conn.getresponse().status == 403
    conn.close()
    assert httpx.put(_url(server, BLOB), content=b"x").status_code == 405


def test_files_page_honours_published_weeklies(server: WorldServer, control: WorldControl) -> None:
    nppes_files = pytest.importorskip(
        "medicaid_assets.sample_world.nppes_files", reason="nppes_files.py (render_files_page) not written yet"
    )
    assert hasattr(nppes_files, "render_files_page")
    names = [b.zip_name for b in weekly_bundles(SPEC)]
    url = local_url(server.base_url, DEFAULT_NPPES_FILES_PAGE_URL)
    page = httpx.get(url)
    assert page.headers["content-type"].startswith("text/html")
    assert all(name in page.text for name in names)
    control.publish_weeklies(1)
    assert sum(name in httpx.get(url).text for name in names) == 1
    assert control.requests()[-1]["api"] == "page"


# -- faults ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "status"), [("429", 429), ("500", 500), ("503", 503)])
def test_status_faults(server: WorldServer, control: WorldControl, kind: str, status: int) -> None:
    control.set_faults(rate=1.0, kinds=[kind])
    response = httpx.get(_npi_url(server))
    assert response.status_code == status
    if kind == "429":
        assert response.headers["retry-after"] == "1"


def test_slow_fault_times_out_a_short_client(server: WorldServer, control: WorldControl) -> None:
    control.set_faults(rate=1.0, kinds=["slow"], slow_seconds=0.6)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(_npi_url(server), timeout=0.2)
    deadline = time.monotonic() + 5
    while not control.requests() and time.monotonic() < deadline:  # logged once the late answer is sent
        time.sleep(0.05)
    assert [(e["fault"], e["status"]) for e in control.requests()] == [("slow", 200)]


@pytest.mark.parametrize("kind", ["drop", "truncate"])
def test_broken_connection_faults(server: WorldServer, control: WorldControl, kind: str) -> None:
    control.set_faults(rate=1.0, kinds=[kind], scope="all")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.get(_npi_url(server))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.get(_url(server, BLOB))
    assert httpx.head(_url(server, BLOB)).status_code == 200  # static files: GET only
    entries = control.requests()
    assert [e["fault"] for e in entries] == [kind, kind, None]
    assert entries[1]["bytes"] == (len(BLOB_BYTES) // 2 if kind == "truncate" else 0)


def test_nonjson_fault(server: WorldServer, control: WorldControl) -> None:
    control.set_faults(rate=1.0, kinds=["nonjson"])
    response = httpx.get(_npi_url(server))
    assert response.status_code == 200 and response.headers["content-type"] == "text/html"
    assert response.text.startswith("<html>")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_scope_rate_and_determinism(server: WorldServer, control: WorldControl) -> None:
    control.set_faults(rate=1.0, kinds=["500"], scope="api")
    assert httpx.get(_url(server, BLOB), headers={"Range": "bytes=0-0"}).status_code == 206
    assert control.requests()[-1]["fault"] is None  # control routes themselves are never faulted
    faults = Faults(rate=0.3, kinds=FAULT_KINDS, seed=7)
    picks = [faults.pick(seq, "npi") for seq in range(1, 2001)]
    assert picks == [Faults(rate=0.3, seed=7).pick(seq, "npi") for seq in range(1, 2001)]
    assert 0.25 < sum(p is not None for p in picks) / len(picks) < 0.35
    assert set(picks) == {None, *FAULT_KINDS}
    assert all(faults.pick(seq, "files") is None for seq in range(1, 100))
    with pytest.raises(httpx.HTTPStatusError):
        control.set_faults(rate=2.0)


# -- request log -------------------------------------------------------------------------------
def test_request_log(server: WorldServer, control: WorldControl) -> None:
    npi = npi_for_index(SPEC, 1)
    httpx.get(f"{server.base_url}{NPI_PATH}/", params={"version": "2.1", "number": npi})
    httpx.get(f"{server.base_url}{HCPCS_PATH}", params={"terms": "", "sf": "code", "q": "code:(a0021 OR D4560)"})
    httpx.get(_url(server, BLOB), headers={"Range": "bytes=0-99"})
    entries = control.requests()
    assert [e["api"] for e in entries] == ["npi", "hcpcs", "files"]
    assert [e["identifiers"] for e in entries] == [npi, ["A0021", "D4560"], None]
    assert [e["status"] for e in entries] == [200, 200, 206]
    assert entries[2]["bytes"] == 100 and entries[2]["range"] == "bytes=0-99"
    assert entries[0]["query"] == {"version": "2.1", "number": npi} and entries[0]["method"] == "GET"
    assert entries[0]["seq"] < entries[1]["seq"] < entries[2]["seq"]
    lines = server.world.request_log.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines[-3:]] == [e["seq"] for e in entries]
    control.clear_requests()
    assert control.requests() == []


def test_server_lifecycle(world_dir: Path) -> None:
    server = WorldServer(world_dir)
    with pytest.raises(RuntimeError):
        server.base_url  # noqa: B018 - the property raises before start
    with server:
        assert httpx.head(f"{server.base_url}/{BLOB}").status_code == 200
    server.stop()  # idempotent


def test_root_relative_cms_links_resolve_to_the_cms_host_folder(server: WorldServer, world_dir: Path) -> None:
    """The real CMS page links ``/files/zip/…``; resolved against the local page URL it must still work."""
    zip_rel = "www.cms.gov/files/zip/x.zip"
    (world_dir / "files" / zip_rel).parent.mkdir(parents=True, exist_ok=True)
    (world_dir / "files" / zip_rel).write_bytes(b"PK-zip-bytes")
    href = urljoin(_url(server, PAGE), "/files/zip/x.zip")
    assert href == f"{server.base_url}/files/zip/x.zip"
    response = httpx.get(href)
    assert response.status_code == 200 and response.content == b"PK-zip-bytes"
    assert httpx.get(f"{server.base_url}/files/zip/missing.zip").status_code == 404

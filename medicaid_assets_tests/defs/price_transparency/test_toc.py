"""Tables of contents by month, file partitions by content, and bodies read only as far as needed."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import httpx
import libarchive
import pytest

from medicaid_assets.defs.price_transparency.catalog import file_key, url_key, url_key_of
from medicaid_assets.defs.price_transparency.containers import (
    Limits,
    UnsafeFileError,
    container_of,
    open_chunks,
    stream_chunks,
)
from medicaid_assets.defs.price_transparency.toc import parse_toc, toc_month
from medicaid_assets.defs.price_transparency.versions import probe_version, version_of
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets_tests.conftest import REFERENCE


def _toc(last_updated_on: str | None) -> bytes:
    doc = {
        "reporting_entity_name": "P",
        "reporting_structure": [
            {"in_network_files": [{"description": "a", "location": "https://x.example/f/a.json.gz?Expires=1&Sig=2"}]}
        ],
    }
    if last_updated_on:
        doc["last_updated_on"] = last_updated_on
    return json.dumps(doc).encode()


def test_a_tocs_month_is_its_last_updated_on_else_the_month_it_was_fetched() -> None:
    fetched = date(2026, 12, 6)
    assert toc_month(parse_toc("p", _toc("10/25/2022"))[0], fetched) == "2022-10"  # Dean's non-ISO date
    assert toc_month(parse_toc("p", _toc("2025-06-23T00:00:00-05:00"))[0], fetched) == "2025-06"
    assert toc_month(parse_toc("p", _toc(None))[0], fetched) == "2026-12"  # v1 ToCs carry no date


def test_file_partitions_ignore_the_signature_and_follow_the_content() -> None:
    a = url_key("p", "https://x.example/f/a.json.gz?Expires=1&Signature=one")
    assert a == url_key("p", "https://x.example/f/a.json.gz?Expires=2&Signature=two")
    assert a != url_key("p", "https://x.example/g/a.json.gz")  # same name, another folder
    assert a.startswith("p__a-")
    v1, v2 = file_key(a, version_of('"abc"', None, 10)), file_key(a, version_of('"abd"', None, 10))
    assert v1 != v2 and url_key_of(v1) == url_key_of(v2) == a
    assert version_of('W/"abc"', "Sun, 06 Dec 2026", 10) == 'etag:"abc"'  # weak or strong: the same content
    assert version_of(None, "Sun, 06 Dec 2026", 10) == "modified:Sun, 06 Dec 2026"
    assert version_of(None, None, 10) == "size:10" and version_of(None, None, None) == ""
    (listed,) = parse_toc("p", _toc(None))[1]
    assert listed.file_key == file_key(a, "") and listed.with_version("etag:x").file_key == file_key(a, "etag:x")


def test_a_files_version_is_asked_with_a_one_byte_get(world_server: WorldServer) -> None:
    toc = httpx.get(f"{world_server.base_url}/mrf.payers.sample-world.example/toc/uhc_tpa_index.json").json()
    link = toc["reporting_structure"][0]["in_network_files"][0]["location"]
    with httpx.Client() as client:
        version = probe_version(client, link, allow_private=True)
        head = client.get(link)
    assert version == f"etag:{head.headers['etag']}"


def test_bodies_stream_through_gzip_members_and_refuse_what_needs_a_download() -> None:
    doc = json.dumps({"in_network": [{"billing_code": str(i)} for i in range(2000)]}).encode()
    two_members = gzip.compress(doc[:5000]) + gzip.compress(doc[5000:])
    pieces = [two_members[i : i + 777] for i in range(0, len(two_members), 777)]
    assert b"".join(stream_chunks("f.json.gz", pieces)) == doc
    assert b"".join(stream_chunks("f.json", [doc[:3], doc[3:]])) == doc
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("f.json", doc)
    with pytest.raises(UnsafeFileError, match=r"f\.zip: a \.zip archive is read from its end"):
        list(stream_chunks("f.zip", [buf.getvalue()]))
    bomb = gzip.compress(b" " * (4 << 20))
    with pytest.raises(UnsafeFileError, match="decompression-bomb"):
        list(stream_chunks("bomb.json.gz", [bomb], Limits(max_ratio=10, ratio_grace_bytes=1 << 20)))


def test_a_7z_streams_its_one_file_and_refuses_two(tmp_path: Path) -> None:
    data = (REFERENCE / "tic_real_dean_health_in_network_excerpt.json").read_bytes()
    one, two = tmp_path / "dean.7z", tmp_path / "two.7z"
    with libarchive.file_writer(str(one), "7zip") as archive:
        archive.add_file_from_memory("in_network.json", len(data), data)
    assert container_of(one) == "7z"
    assert b"".join(open_chunks(one, chunk_size=100)) == data
    with libarchive.file_writer(str(two), "7zip") as archive:
        archive.add_file_from_memory("a.json", len(data), data)
        archive.add_file_from_memory("b.json", len(data), data)
    with pytest.raises(UnsafeFileError, match=r"two\.7z: a \.7z with more than one file \(a\.json, b\.json"):
        b"".join(open_chunks(two))
    with pytest.raises(UnsafeFileError, match=r"dean\.7z: its member declares 1,468 bytes \(size limit\)"):
        b"".join(open_chunks(one, Limits(max_json_bytes=100)))

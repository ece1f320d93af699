"""lib/object_store against a real S3-compatible server on loopback (moto): atomic, multipart, retried uploads."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest

from medicaid_assets.core.object_store import (
    MiB,
    ObjectStore,
    ObjectStoreError,
    TransferConfig,
    parse_object_store_url,
    sqlite_snapshot,
)
from medicaid_assets.defs.publish.mirrored_files import CACHES, OUTPUTS, SOURCES, local_files, matches
from medicaid_assets.layout import DataLayout
from medicaid_assets_tests.infra.conftest import S3Server

SMALL = TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB, attempts=3, backoff_seconds=0)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(client, bucket: str) -> tuple[list[str], list[str]]:
    """(every key in the bucket, keys of multipart uploads still open)."""
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    uploads = [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    return keys, uploads


class FlakyFile(io.FileIO):
    """A file that raises once a read reaches ``fail_at`` bytes, while ``failures`` lasts (shared budget)."""

    def __init__(self, path: Path, fail_at: int, budget: list[int], on_failure=None) -> None:
        super().__init__(path, "rb")
        self.fail_at, self.budget, self.on_failure = fail_at, budget, on_failure

    def read(self, size: int = -1) -> bytes:
        start = self.tell()
        end = start + (size if size >= 0 else os.fstat(self.fileno()).st_size)
        # Hashing reads from 0 in 8 MiB chunks; the upload reads parts. Fail only the upload's reads.
        if self.budget[0] > 0 and start < self.fail_at <= end and self.hashed:
            self.budget[0] -= 1
            if self.on_failure:
                self.on_failure()
            raise OSError("disk read failed halfway (injected)")
        data = super().read(size)
        if self.tell() >= os.fstat(self.fileno()).st_size:
            self.hashed = True
        return data

    hashed = False


def test_parse_object_store_url() -> None:
    assert parse_object_store_url("s3://bucket/some/prefix/") == ("bucket", "some/prefix")
    assert parse_object_store_url("s3://bucket") == ("bucket", "")
    for bad in ("http://bucket/x", "s3:///x", "s3://b/a//c", "s3://b/../x", "bucket/x"):
        with pytest.raises(ValueError):
            parse_object_store_url(bad)


def test_small_file_round_trip_skips_unchanged_and_keeps_nothing_staged(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    client = s3_server.client()
    store = ObjectStore(client, bucket, "run/1", SMALL)
    src = tmp_path / "a.csv"
    src.write_bytes(b"npi,status\n1234567893,ok\n")
    first = store.put_file(src, "mappings/a.csv")
    assert first.transferred and first.parts == 1 and first.url == f"s3://{bucket}/run/1/mappings/a.csv"
    again = store.put_file(src, "mappings/a.csv")
    assert not again.transferred and again.sha256 == first.sha256
    assert store.head("mappings/a.csv").sha256 == sha256(src.read_bytes())
    assert [o.relative for o in store.list()] == ["mappings/a.csv"]
    dest = tmp_path / "restored" / "a.csv"
    got = store.get_file("mappings/a.csv", dest)
    assert dest.read_bytes() == src.read_bytes() and got.sha256 == first.sha256
    assert leftovers(client, bucket) == (["run/1/mappings/a.csv"], [])


@pytest.mark.slow
def test_file_over_100_mb_goes_up_in_parts_and_comes_back_identical(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    client = s3_server.client()
    data = os.urandom(105 * MiB)
    src = tmp_path / "big.parquet"
    src.write_bytes(data)
    # Parts of 16 MiB, four in flight; the promotion is a multipart copy too (single copies stop at 48 MiB here).
    config = TransferConfig(multipart_threshold=16 * MiB, part_size=16 * MiB, max_single_copy=48 * MiB)
    store = ObjectStore(client, bucket, "big", config)
    seen: list[int] = []
    transfer = store.put_file(src, "raw/medicaid/big.parquet", progress=lambda sent, total: seen.append(sent))
    assert transfer.transferred and transfer.parts == 7 and transfer.size == len(data)
    assert seen[-1] == len(data)
    head = client.head_object(Bucket=bucket, Key="big/raw/medicaid/big.parquet")
    assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-7")
    body = client.get_object(Bucket=bucket, Key="big/raw/medicaid/big.parquet")["Body"].read()
    assert sha256(body) == sha256(data) == transfer.sha256
    dest = tmp_path / "again" / "big.parquet"
    assert store.get_file("raw/medicaid/big.parquet", dest).sha256 == sha256(data)
    assert dest.stat().st_size == len(data)
    assert leftovers(client, bucket) == (["big/raw/medicaid/big.parquet"], [])


def test_upload_failing_midway_is_retried_and_never_visible_partially(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    client = s3_server.client()
    data = os.urandom(23 * MiB)  # five parts of 5 MiB
    src = tmp_path / "npi.parquet"
    src.write_bytes(data)
    key = "p/output/npi.parquet"
    at_failure: list[tuple] = []
    budget = [1]

    def look() -> None:  # what a reader sees at the moment the upload breaks
        keys, uploads = leftovers(client, bucket)
        at_failure.append((key in keys, uploads))

    store = ObjectStore(
        client, bucket, "p", SMALL, open_file=lambda path: FlakyFile(path, len(data) // 2, budget, look)
    )
    transfer = store.put_file(src, "output/npi.parquet")
    assert budget == [0] and transfer.attempts == 2 and transfer.parts == 5
    # While it was failing, the final key did not exist; only the (invisible) multipart upload to staging did.
    [(visible, open_uploads)] = at_failure
    assert not visible and all(k.startswith("p/.staging/") for k in open_uploads)
    # Afterwards: the object is whole, the failed multipart upload was aborted, no staging object remains.
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert sha256(body) == sha256(data)
    assert leftovers(client, bucket) == ([key], [])


def test_upload_that_keeps_failing_leaves_the_previous_object_intact(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    client = s3_server.client()
    src = tmp_path / "hcpcs.parquet"
    old = os.urandom(6 * MiB)
    src.write_bytes(old)
    ObjectStore(client, bucket, "", SMALL).put_file(src, "output/hcpcs.parquet")
    new = os.urandom(12 * MiB)
    src.write_bytes(new)
    budget = [99]
    store = ObjectStore(client, bucket, "", SMALL, open_file=lambda path: FlakyFile(path, len(new) // 2, budget))
    with pytest.raises(ObjectStoreError) as failure:
        store.put_file(src, "output/hcpcs.parquet")
    assert "after 3 attempt(s)" in str(failure.value) and "left as it was" in str(failure.value)
    assert budget == [96]
    body = client.get_object(Bucket=bucket, Key="output/hcpcs.parquet")["Body"].read()
    assert body == old
    assert leftovers(client, bucket) == (["output/hcpcs.parquet"], [])


def test_restore_refuses_an_object_whose_bytes_do_not_match_its_checksum(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="raw/cpt/x.zip", Body=b"tampered", Metadata={"sha256": "0" * 64})
    store = ObjectStore(client, bucket, "", SMALL)
    dest = tmp_path / "raw" / "cpt" / "x.zip"
    with pytest.raises(ObjectStoreError, match="was not replaced"):
        store.get_file("raw/cpt/x.zip", dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    with pytest.raises(ObjectStoreError, match="no such object"):
        store.get_file("raw/cpt/missing.zip", dest)


def test_cleanup_removes_stale_staging_objects_and_aborts_stale_uploads(s3_server: S3Server, bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="p/.staging/abc/x.csv", Body=b"half")
    client.create_multipart_upload(Bucket=bucket, Key="p/.staging/def/y.parquet")
    client.put_object(Bucket=bucket, Key="p/keep.csv", Body=b"x")
    store = ObjectStore(client, bucket, "p", SMALL)
    # A fresh staging object may be another process's upload in flight: kept. (moto reports every multipart
    # upload as initiated in 2010, so the age rule cannot be shown for those here.)
    deleted, aborted = store.cleanup_staging(timedelta(hours=1))
    assert deleted == 0 and "p/.staging/abc/x.csv" in leftovers(client, bucket)[0]
    assert [o.relative for o in store.list()] == ["keep.csv"]  # listings never show the staging area
    deleted, aborted_now = store.cleanup_staging(timedelta(0))
    assert deleted == 1 and aborted + aborted_now == 1
    assert leftovers(client, bucket) == (["p/keep.csv"], [])


def test_which_files_the_bucket_keeps(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path)
    wanted = {
        SOURCES: [
            "raw/medicaid/medicaid-provider-spending.parquet",
            "raw/medicaid/medicaid-provider-spending.parquet.meta.json",
            "raw/nppes/monthly/NPPES_Data_Dissemination_October_2026_V2.zip",
            "raw/nppes/weekly/NPPES_Data_Dissemination_110926_111526_Weekly_V2.zip.meta.json",
            "raw/cpt/archives/pfrev26a.zip",
            "raw/cpt/cpt_hcpcs_fallback.csv",
        ],
        CACHES: ["cache/npi/npi_provider_cache.sqlite", "cache/hcpcs/hcpcs_code_cache.sqlite"],
        OUTPUTS: [
            "mappings/npi/npi_provider_mapping.csv",
            "output/npi.parquet",
            "output/triage/summary.json",
            "unresolved_identifiers.csv",
        ],
    }
    ignored = [
        "raw/medicaid/medicaid-provider-spending.parquet.part",
        "raw/medicaid/medicaid-provider-spending.parquet.part.meta.json",
        "raw/medicaid/.x.parquet.123.tmp",
        "raw/nppes/monthly/current.json",
        "raw/nppes/monthly/NPPES_Data_Dissemination_October_2026_V2/npidata_pfile.csv",
        "raw/nppes/monthly/NPPES_Data_Dissemination_October_2026_V2.extracted.json",
        "raw/cpt/archives/pfrev26a/nested/file.csv",
        "warehouse.duckdb",
        "assets/resolution/dataset_npis.parquet",  # values between assets: re-derived, not mirrored
        "sample_world/files/x.zip",
    ]
    for rel in [*(r for rels in wanted.values() for r in rels), *ignored]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    for kind, rels in wanted.items():
        assert [p.relative_to(tmp_path).as_posix() for p in local_files(layout, kind)] == sorted(rels)
        assert all(matches(layout, kind, r) for r in rels)
    assert not any(matches(layout, kind, r) for kind in wanted for r in ignored)
    assert not matches(layout, SOURCES, "raw/medicaid/../../etc/passwd")


def test_sqlite_snapshot_is_a_consistent_copy_of_a_live_database(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "cache.sqlite"
    live = sqlite3.connect(db)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("CREATE TABLE t (x)")
    live.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    live.commit()  # still in the WAL, not checkpointed
    with sqlite_snapshot(db, tmp_path / "snap") as copy:
        assert copy.read_bytes()[:16] == b"SQLite format 3\x00"
        assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]  # one self-contained file
        check = sqlite3.connect(copy)
        assert check.execute("SELECT count(*) FROM t").fetchone() == (1000,)
        check.close()
    assert list((tmp_path / "snap").iterdir()) == []
    live.close()

"""One file split over worker processes equals one process's output, row for row, ids recomputed independently."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from medicaid_assets.defs.price_transparency.containers import open_chunks
from medicaid_assets.defs.price_transparency.normalize import FileConfig, Normalizer
from medicaid_assets.defs.price_transparency.parallel import (
    Boundary,
    guess_item_start,
    normalize_split,
    part_queries,
    read_head,
    write_parts,
)
from medicaid_assets.defs.price_transparency.whitelist import load_whitelist
from medicaid_assets_tests.conftest import REFERENCE

CAREFIRST = REFERENCE / "tic_real_carefirst_in_network_remote_refs.json.gz"
NPIS = ("1234567893", "1003000126", "1497758544")  # valid check digits


class ReferenceHost:
    """The remote reference files of the CareFirst sample, served from memory: two groups per URL, a TIN each,
    and every 50th URL failing. Counts its calls (the split must fetch each URL once, in the parent)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        n = int(hashlib.sha1(url.encode()).hexdigest()[:6], 16)
        if n % 50 == 0:
            raise OSError(f"404 for {url}")
        groups = [{"npi": [int(NPIS[(n + k) % 3])], "tin": {"type": "ein", "value": f"{n % 97:09d}"}} for k in (0, 1)]
        return json.dumps({"provider_groups": groups}).encode()


def _uuid5(name: str) -> str:
    digest = bytearray(hashlib.sha1(uuid.NAMESPACE_DNS.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def _one_process(path: Path, config: FileConfig, out: Path) -> tuple[dict[str, str], int]:
    normalizer = Normalizer(config)
    write_parts(normalizer.run(open_chunks(path)), out)
    return part_queries([out], [normalizer.summary.items]), normalizer.summary.rate_rows


def _rows(sql: str) -> list[tuple]:
    with duckdb.connect() as conn:
        return sorted(conn.sql(sql).fetchall(), key=repr)


@pytest.fixture(scope="module")
def carefirst_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pt_split") / "carefirst.json"
    path.write_bytes(gzip.decompress(CAREFIRST.read_bytes()))
    return path


@pytest.mark.parametrize("workers", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_split_file_equals_one_process(carefirst_json: Path, tmp_path: Path, workers: int) -> None:
    host = ReferenceHost()
    config = FileConfig(payer="p", url="https://h/carefirst.json", whitelist=load_whitelist(), fetch=host)
    one, one_rows = _one_process(carefirst_json, config, tmp_path / "one")
    urls = set(host.calls)
    host.calls.clear()
    split = normalize_split(carefirst_json, config, tmp_path / "split", workers=workers)
    assert split is not None
    summary, queries = split
    assert queries["rates"].count("UNION ALL") == workers - 1  # every worker's share verified and used
    assert sorted(host.calls) == sorted(urls)  # each remote file fetched once, by the parent
    assert (summary.items, summary.rate_rows, summary.provider_references) == (1773, one_rows, 370)
    assert one_rows > 5_000 and summary.remote_failed > 0  # whitelisted rows; some references 404
    for name in ("rates", "organizations", "providers"):
        assert _rows(queries[name]) == _rows(one[name]), name
    payer = _uuid5("payer:p:")
    for row in duckdb.sql(f"SELECT * FROM ({queries['rates']}) USING SAMPLE 2000 ROWS").to_arrow_table().to_pylist():
        org = row["organization_uuid"] or ""
        rate = float(row["negotiated_rate"])
        name = f"rate:{payer}:{org}:{row['billing_code']}:{rate}:{row['expiration_date'] or ''}"
        assert row["rate_uuid"] == _uuid5(name)
        if row["tin_value"] is not None:
            assert org == _uuid5(f"org:{row['tin_value']}:")


def test_a_wrong_guess_is_caught_and_the_first_worker_reads_on(tmp_path: Path) -> None:
    """An object with the item's first key nested inside an item, just after the middle of the file: the guessed
    start is not an element start, the first worker finds no element there and reads the whole file."""
    price = {"negotiated_type": "negotiated", "negotiated_rate": 12.5, "expiration_date": "9999-12-31"}

    def item(code: str, **extra) -> dict:
        rates = [{"provider_references": [1], "negotiated_prices": [price]}]
        return {"negotiation_arrangement": "ffs", **extra, "billing_code_type": "CPT", "billing_code": code,
                "negotiated_rates": rates}  # fmt: skip

    decoy = item("99213", pad="x" * 60_000, trap=[0, {"negotiation_arrangement": "ffs"}], tail="y" * 1_000)
    doc = {
        "reporting_entity_name": "r",
        "provider_references": [{"provider_group_id": 1, "provider_groups": [{"npi": [1234567893], "tin": {"type": "ein", "value": "1"}}]}],
        "in_network": [item("99211"), decoy, item("99214")],
    }  # fmt: skip
    path = tmp_path / "decoy.json"
    path.write_text(json.dumps(doc, separators=(",", ":")))
    config = FileConfig(payer="p", url="https://h/decoy.json", whitelist=None)
    one, rows = _one_process(path, config, tmp_path / "one")
    split = normalize_split(path, config, tmp_path / "split", workers=2)
    assert split is not None
    summary, queries = split
    assert "UNION ALL" not in queries["rates"]  # the second worker's share was dropped
    assert (summary.items, summary.rate_rows) == (3, rows) and rows == 3
    for name in ("rates", "organizations", "providers"):
        assert _rows(queries[name]) == _rows(one[name]), name


def test_a_late_worker_moves_the_boundary_halfway_into_what_is_left(carefirst_json: Path, tmp_path: Path) -> None:
    """The protocol between the first share (this process) and a worker that starts late, over the real lock file."""
    head = read_head(carefirst_json)
    size = carefirst_json.stat().st_size
    middle = guess_item_start(carefirst_json, head, head.in_network_at + (size - head.in_network_at) // 2)
    boundary = Boundary.create(tmp_path / "boundary", carefirst_json, head, middle, size)
    assert boundary.advance(middle // 2) == middle  # the first share is a quarter in when the worker is ready
    moved = boundary.claim()
    assert moved == guess_item_start(carefirst_json, head, middle // 2 + (size - middle // 2) // 2)
    assert middle < moved < size
    assert boundary.claim() == moved == boundary.stop()  # claimed once: fixed
    assert boundary.advance(moved + 10) == moved  # the first share stops there

    early = Boundary.create(tmp_path / "early", carefirst_json, head, middle, size)
    assert early.advance(middle + 1) == middle  # the first share reached the stop before the worker was ready
    assert early.claim() == middle


def test_files_that_do_not_split_say_so(tmp_path: Path) -> None:
    after = REFERENCE / "tic_edgecase_refs_after_in_network_dolthub.json"  # references after in_network
    config = FileConfig(payer="p", url="https://h/f.json", whitelist=None)
    assert normalize_split(after, config, tmp_path, workers=2) is None
    assert (
        normalize_split(REFERENCE / "tic_v2_in_network_rates_ffs_single_plan_example.json", config, tmp_path, workers=1)
        is None
    )


def test_write_parts_raises_the_writer_threads_error_and_the_parse_error(tmp_path: Path) -> None:
    """The writer thread's failure reaches the caller (not lost in the thread), and so does a parse failure while a
    batch is being written; the part files are closed either way, so the staging folder can be removed."""
    config = FileConfig(payer="p", url="https://h/f.json", whitelist=None, batch_rows=1000)
    data = gzip.decompress(CAREFIRST.read_bytes())

    def failing(table):
        raise ValueError("no room left for this batch")

    with pytest.raises(ValueError, match="no room left"):
        write_parts(Normalizer(config).run([data]), tmp_path / "a", failing)

    def cut(batches):
        yield next(batches)
        raise OSError("the download broke off")

    with pytest.raises(OSError, match="broke off"):
        write_parts(cut(Normalizer(config).run([data])), tmp_path / "b")
    for name in ("rates", "organizations", "providers"):  # closed: each file has its footer
        assert pq.ParquetFile(tmp_path / "b" / f"{name}.parquet").metadata.num_columns > 0

"""A SIGKILL in the middle of an in-network file: the stored partition stays the previous good one, the staged
parts are never read, and the next run completes with no duplicate rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.price_transparency.assets import in_network, payer_toc
from medicaid_assets.defs.price_transparency.keys import FILE_PARTITIONS, TOC_PARTITIONS, toc_partition_key
from medicaid_assets.sample_world.price_transparency import world_catalog
from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets.settings import Settings

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

CHILD = """
import sys
import dagster as dg
from medicaid_assets.definitions import build_resources
from medicaid_assets.defs.price_transparency.assets import in_network, payer_toc
from medicaid_assets.defs.price_transparency.keys import FILE_PARTITIONS
from medicaid_assets.settings import Settings

settings = Settings.from_env()
with dg.instance_for_test() as instance:
    instance.add_dynamic_partitions(FILE_PARTITIONS, [sys.argv[1]])
    dg.materialize([payer_toc, in_network], selection=[in_network], partition_key=sys.argv[1],
                   resources=build_resources(settings), instance=instance)
"""


def _count(settings: Settings, key: str) -> tuple[int, int]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        rows = conn.execute("SELECT count(*) FROM price_transparency.rates WHERE file_key = ?", [key]).fetchone()[0]
        files = conn.execute(
            "SELECT count(*), max(rate_rows) FROM price_transparency.files WHERE file_key = ?", [key]
        ).fetchone()
    assert files[0] == 1 and files[1] == rows  # one files row, agreeing with the rates stored
    return rows, files[0]


def test_sigkill_mid_file_keeps_the_previous_partition(
    settings: Settings, world_server: WorldServer, tmp_path: Path
) -> None:
    catalog = world_catalog(world_server.base_url, tmp_path / "payers.yaml", whitelist="all")
    settings = replace(settings, pt_catalog=catalog, pt_allow_private_urls=True, io_manager="duckdb")
    payer = "carefirst_sample"
    with dg.instance_for_test() as instance:
        toc = toc_partition_key(payer, datetime.now(UTC).strftime("%Y-%m"))
        instance.add_dynamic_partitions(TOC_PARTITIONS, [toc])
        resources = build_resources(settings)
        assert dg.materialize([payer_toc], partition_key=toc, resources=resources, instance=instance).success
        (key,) = instance.get_dynamic_partitions(FILE_PARTITIONS)
        assert dg.materialize(
            [payer_toc, in_network], selection=[in_network], partition_key=key, resources=resources, instance=instance
        ).success
    good, _ = _count(settings, key)
    assert good > 0
    staged = settings.data_dir / "price_transparency" / "staging" / key / "rates.parquet"
    env = {**os.environ, **{k: v for k, v in settings.env().items() if v}}
    child = subprocess.Popen([sys.executable, "-c", CHILD, key], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not staged.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert child.poll() is None, "the child finished before it could be killed mid-file"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert staged.exists()  # the killed run's parts are left behind ...
    assert _count(settings, key)[0] == good  # ... and never read: the stored partition is the previous one
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(FILE_PARTITIONS, [key])
        assert dg.materialize(
            [payer_toc, in_network], selection=[in_network], partition_key=key, resources=resources, instance=instance
        ).success
    assert _count(settings, key)[0] == good  # replaced, not appended
    assert not staged.exists()

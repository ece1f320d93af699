"""Hostile inputs at the pipeline level: each is refused with a message that names the source and the problem, and
what earlier runs produced (raw files, warehouse tables, caches, outputs) is left exactly as it was.

Files are served by the session's sample-world server from ``files/hostile/`` of its world; API bodies come from the
server's hostile fault kinds (``huge``, ``nested``, ``garbage``, ``redirect``) and ``nonjson`` (an HTML page).
"""

from __future__ import annotations

import io
import re
import resource
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medicaid_assets.cli.runner import full_range_tags
from medicaid_assets.defs.reference.code_sets import keys as code_sets
from medicaid_assets.defs.reference.nppes.keys import MONTHLY_BUNDLE, PROVIDERS
from medicaid_assets.sample_world.server import WorldControl
from medicaid_assets_tests.reliability.harness import (
    STATS,
    changed_files,
    check_state,
    compare_rows,
    outputs,
    snapshot,
    warehouse_digest,
)
from medicaid_assets_tests.reliability.inprocess import Pipeline, failure_text, settings

SPENDING_FILE = dg.AssetKey(["raw", "medicaid_spending_file"])
SPENDING_TABLE = dg.AssetKey(["warehouse", "spending"])
MB = 1024 * 1024


@pytest.fixture
def full(reference, tmp_path: Path) -> Path:
    """A data dir holding everything an uninterrupted run produced."""
    return shutil.copytree(reference.data, tmp_path / "data")


def serve(world: Path, name: str, body: bytes) -> str:
    """Put ``body`` at ``files/hostile/<name>`` of the world; returns the URL path (append to the base URL)."""
    path = world / "files" / "hostile" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return f"/hostile/{name}"


def zip_bytes(members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in symlinks:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data)
    return buf.getvalue()


def lying_bomb() -> bytes:
    """A zip whose header says 1,000 bytes for a member that inflates to 20 MB."""
    data = bytearray(zip_bytes({"codes.csv": b"0" * (20 * MB)}))
    real = (20 * MB).to_bytes(4, "little")
    fake = (1000).to_bytes(4, "little")
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(sig)
        assert data[at + offset : at + offset + 4] == real
        data[at + offset : at + offset + 4] = fake
    return bytes(data)


def nested_zip(depth: int) -> bytes:
    body = zip_bytes({"codes.csv": b"HCPCS,DESCRIPTION\nA0001,x\n"})
    for level in range(depth):
        body = zip_bytes({f"level{level}.zip": body})
    return body


def refused(
    pipeline: Pipeline,
    selection: dg.AssetSelection,
    source: str,
    problem: str,
    data: Path,
    before: dict[str, str],
    warehouse_before: dict | None = None,
    may_change: tuple[str, ...] = (),
    **run_options,
) -> str:
    """Run ``selection``: it must fail, naming ``source`` and matching ``problem``, and change nothing that existed."""
    STATS.add("hostile_inputs")
    assert not pipeline.run(selection, **run_options), "the hostile input was accepted"
    text = failure_text(pipeline.last)
    assert source in text, f"the message does not name {source!r}:\n{text}"
    assert re.search(problem, text, re.I), f"the message does not say {problem!r}:\n{text}"
    changed = [c for c in changed_files(before, snapshot(data)) if not c.endswith(may_change)]
    assert changed == [], f"files of earlier runs changed: {changed}"
    if warehouse_before is not None:
        assert warehouse_digest(data / "warehouse.duckdb") == warehouse_before
    assert check_state(data, finished=False) == []
    STATS.add("hostile_rejected")
    return text


# -- archives ---------------------------------------------------------------------------------------------------

ARCHIVES = {
    "zip-slip": (lambda: zip_bytes({"ok.csv": b"a", "../../escaped.csv": b"x"}), r"escape"),
    "absolute-path": (lambda: zip_bytes({"/tmp/absolute-member.csv": b"x"}), r"escape"),
    "symlink": (lambda: zip_bytes({"link.csv": b"/etc/passwd"}, symlinks=("link.csv",)), r"symlink"),
    "bomb": (lambda: zip_bytes({"zeros.csv": b"0" * (20 * MB)}), r"expands"),
    "lying-bomb": (lying_bomb, r"expands|bad crc|corrupt|refus"),
    "nested-6": (lambda: nested_zip(6), r"nested deeper"),
}


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_hostile_archives_are_refused(name, full, rel_world, rel_server, tmp_path) -> None:
    build, problem = ARCHIVES[name]
    url = rel_server.base_url + serve(rel_world, f"{name}.zip", build())
    before = snapshot(full)
    s = settings(full, rel_server.base_url, MEDICAID_CPT_ZIP_URLS=url, MEDICAID_MAX_EXTRACT_BYTES=str(8 * MB))
    with dg.instance_for_test() as instance:
        pipeline = Pipeline(s, instance)
        refused(pipeline, dg.AssetSelection.assets(code_sets.ARCHIVES), f"{name}.zip", problem, full, before)
        # Refused once, refused for good: the archive is not kept where the next run would trip on it again,
        # and the next run (the hostile URL gone) rebuilds the fallback from the good archives as before.
        archives = full / "raw" / "cpt" / "archives"
        assert not (archives / f"{name}.zip").exists() and not (archives / name).exists()
        pipeline = Pipeline(settings(full, rel_server.base_url), instance)
        assert pipeline.run(dg.AssetSelection.assets(code_sets.ARCHIVES, code_sets.FALLBACK)), failure_text(
            pipeline.last
        )
    assert not (tmp_path / "escaped.csv").exists() and not Path("/tmp/absolute-member.csv").exists()
    assert changed_files(before, snapshot(full)) == []


# -- CSV files ---------------------------------------------------------------------------------------------------


def _monthly_zip(world: Path) -> Path:
    return next(p for p in (world / "files").rglob("NPPES_Data_Dissemination_*_V2.zip") if "Weekly" not in p.name)


def hostile_monthly(world: Path, how: str) -> bytes:
    """The world's monthly bundle with one npidata line made hostile."""
    with zipfile.ZipFile(_monthly_zip(world)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    name = next(n for n in members if n.startswith("npidata_pfile") and "fileheader" not in n)
    lines = members[name].split(b"\n")
    fields = lines[1].split(b'","')
    if how == "100MB-line":
        fields[5] = b"A" * (100 * MB)
    elif how == "unbalanced-quotes":
        fields[5] = b'Acme "Hospital'
        fields[6] = b'Clinic,"'
    lines.insert(3, b'","'.join(fields))
    members[name] = b"\n".join(lines)
    return zip_bytes(members)


@pytest.mark.parametrize("how", ["100MB-line", "unbalanced-quotes"])
def test_hostile_nppes_csv_is_refused_and_the_provider_table_kept(how, full, rel_world, rel_server) -> None:
    url = rel_server.base_url + serve(
        rel_world, f"{how}/NPPES_Data_Dissemination_March_2027_V2.zip", hostile_monthly(rel_world, how)
    )
    before, tables = snapshot(full), warehouse_digest(full / "warehouse.duckdb")
    with dg.instance_for_test() as instance:
        pipeline = Pipeline(settings(full, rel_server.base_url, MEDICAID_NPPES_MONTHLY_URL=url), instance)
        problem = r"line size|maximum line|unterminated|quote|could not be parsed"
        refused(
            pipeline,
            dg.AssetSelection.assets(MONTHLY_BUNDLE, PROVIDERS),
            "npidata_pfile",
            problem,
            full,
            before,
            tables,
            may_change=("current.json",),
        )


def hostile_cpt_zip(how: str) -> bytes:
    good = b"".join(f"Z{n:04d},Hostile test code {n}\n".encode() for n in range(1, 4))
    bad = b"Z0100," + b"B" * (100 * MB) + b"\n" if how == "100MB-line" else b'Z0100,"Unbalanced quote starts here\n'
    return zip_bytes({"hostile/codes.csv": b"HCPCS,DESCRIPTION\n" + good + bad + good.replace(b"Z0", b"Z1")})


@pytest.mark.parametrize("how", ["100MB-line", "unbalanced-quotes"])
def test_hostile_cpt_csv_is_refused_and_the_fallback_kept(how, full, rel_world, rel_server) -> None:
    url = rel_server.base_url + serve(rel_world, f"cpt-{how}.zip", hostile_cpt_zip(how))
    before = snapshot(full)
    with dg.instance_for_test() as instance:
        pipeline = Pipeline(settings(full, rel_server.base_url, MEDICAID_CPT_ZIP_URLS=url), instance)
        refused(
            pipeline,
            dg.AssetSelection.assets(code_sets.ARCHIVES, code_sets.FALLBACK),
            "codes.csv",
            r"field larger|line|quote|unexpected end",
            full,
            before,
        )


# -- parquet ----------------------------------------------------------------------------------------------------


def _spending_table(reference) -> pa.Table:
    return pq.read_table(next((reference.data / "raw" / "medicaid").glob("*.parquet")))


def test_spending_parquet_with_wrong_column_types_is_refused(reference, full, rel_world, rel_server) -> None:
    table = _spending_table(reference)
    bad = table.set_column(
        table.schema.get_field_index("TOTAL_CLAIMS"), "TOTAL_CLAIMS", pa.array(["twelve"] * table.num_rows)
    )
    buf = io.BytesIO()
    pq.write_table(bad, buf)
    url = rel_server.base_url + serve(rel_world, "types/medicaid-provider-spending.parquet", buf.getvalue())
    before, tables = snapshot(full), warehouse_digest(full / "warehouse.duckdb")
    with dg.instance_for_test() as instance:
        pipeline = Pipeline(settings(full, rel_server.base_url, MEDICAID_SPENDING_URL=url), instance)
        selection = dg.AssetSelection.assets(SPENDING_FILE, SPENDING_TABLE)
        refused(pipeline, selection, url, r"type", full, before, tables, tags=full_range_tags())


def test_spending_parquet_with_bytes_invalid_in_utf8_is_refused(reference, full, rel_world, rel_server) -> None:
    """Parquet declares its strings UTF-8: a file breaking that is refused before it replaces the good one."""
    table = _spending_table(reference)
    codes = table.column("HCPCS_CODE").combine_chunks().cast(pa.binary())
    broken = [b"\xff\xfe\xc3\x28" if i == 5 else v for i, v in enumerate(codes.to_pylist())]
    raw = pa.array(broken, pa.binary())
    invalid = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers(), raw.null_count)
    bad = table.set_column(table.schema.get_field_index("HCPCS_CODE"), "HCPCS_CODE", invalid)
    buf = io.BytesIO()
    pq.write_table(bad, buf)
    url = rel_server.base_url + serve(rel_world, "utf8/medicaid-provider-spending.parquet", buf.getvalue())
    before, tables = snapshot(full), warehouse_digest(full / "warehouse.duckdb")
    with dg.instance_for_test() as instance:
        pipeline = Pipeline(settings(full, rel_server.base_url, MEDICAID_SPENDING_URL=url), instance)
        refused(
            pipeline,
            dg.AssetSelection.assets(SPENDING_FILE, SPENDING_TABLE),
            "medicaid-provider-spending.parquet",
            r"utf-?8|encoding",
            full,
            before,
            tables,
            tags=full_range_tags(),
        )


# -- API bodies and redirects -----------------------------------------------------------------------------------

API_BODIES = {
    "huge": r"larger than|exceeds|too large",
    "nested": r"nest|deep|recursion|not JSON",
    "nonjson": r"not JSON|HTML|expected \[total",
    "garbage": r"not JSON|decode|utf",
    "redirect": r"unsupported protocol|not http|redirect",
}


@pytest.mark.parametrize("kind", sorted(API_BODIES))
def test_hostile_api_bodies_become_errors_never_stored(kind, reference, rel_server, tmp_path):
    """Every answer hostile: the run still completes; each identifier asked is an ``error`` (never settled) whose
    message says what came back and whose url names the request; nothing hostile is stored. (For one kind, the
    next good run then resolves them all, to the reference's outputs; test_faults proves it for the others.)"""
    data = shutil.copytree(reference.sourced, tmp_path / "data")
    world = WorldControl(rel_server.base_url)
    world.clear_requests()
    world.set_faults(rate=1.0, kinds=[kind], scope="api", seed=3, huge_bytes=2 * MB)
    try:
        with dg.instance_for_test() as instance:
            api = {"attempts": 2, "retry_rounds": 0, "max_response_bytes": MB}
            pipeline = Pipeline(settings(data, rel_server.base_url), instance, api=api)
            STATS.add("hostile_inputs")
            assert pipeline.build(), failure_text(pipeline.last)
            STATS.add("faults_injected", sum(1 for r in world.requests() if r["fault"]))
            errors = [r for r in outputs(data, rel_server.base_url)["unresolved"] if r[2] == "error"]
            assert errors, "no identifier was asked"
            for row in errors:
                assert re.search(API_BODIES[kind], row[3], re.I), row
            npi = pq.read_table(data / "output" / "npi.parquet").to_pylist()
            asked = [r for r in npi if r["error_message"] and re.search(API_BODIES[kind], r["error_message"], re.I)]
            assert asked and all(r["url"].startswith(rel_server.base_url) for r in asked)
            assert not any("xxxxxxxx" in (r["response_json"] or "") for r in npi)
            STATS.add("hostile_rejected")
            if kind != "huge":
                return
            world.clear_faults()
            assert pipeline.build(), failure_text(pipeline.last)
    finally:
        world.clear_faults()
    assert compare_rows(outputs(data, rel_server.base_url), reference.outputs) == {}


def test_a_download_redirected_to_a_non_http_scheme_is_refused(full, rel_server) -> None:
    world = WorldControl(rel_server.base_url)
    world.set_faults(rate=1.0, kinds=["redirect"], scope="files", seed=3)
    before = snapshot(full)
    url = rel_server.base_url + "/hostile/elsewhere/medicaid-provider-spending.parquet"
    try:
        with dg.instance_for_test() as instance:
            pipeline = Pipeline(settings(full, rel_server.base_url, MEDICAID_SPENDING_URL=url), instance)
            refused(pipeline, dg.AssetSelection.assets(SPENDING_FILE), url, r"protocol|scheme|redirect", full, before)
    finally:
        world.clear_faults()


# -- a disk that fills up ---------------------------------------------------------------------------------------

DISK_FULL_SCRIPT = """
import sys, warnings
warnings.simplefilter("ignore")
import dagster as dg
from medicaid_assets_tests.reliability.inprocess import Pipeline, failure_text, settings
data, base, key, url = sys.argv[1:5]
extra = {"MEDICAID_SPENDING_URL": url} if url != "-" else {}
with dg.DagsterInstance.ephemeral() as instance:
    pipeline = Pipeline(settings(__import__("pathlib").Path(data), base, **extra), instance)
    ok = pipeline.run(dg.AssetSelection.keys(dg.AssetKey.from_user_string(key)))
    print("OK" if ok else "FAILED\\n" + failure_text(pipeline.last))
"""


def _disk_fills_at(limit: int):
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.parametrize(
    ("what", "key", "limit"),
    [("download", "raw/medicaid_spending_file", 100_000), ("output", "outputs/npi_dataset", 120_000)],
)
def test_a_disk_that_fills_up_mid_write(what, key, limit, reference, full, rel_world, rel_server) -> None:
    """RLIMIT_FSIZE makes every write past ``limit`` bytes fail with EFBIG, as a full disk fails with ENOSPC."""
    url = "-"
    if what == "download":  # a new release of the spending file, larger than what the disk has left
        table = _spending_table(reference)
        buf = io.BytesIO()
        pq.write_table(table.slice(0, table.num_rows - 1), buf)
        url = rel_server.base_url + serve(rel_world, "release2/medicaid-provider-spending.parquet", buf.getvalue())
    before = snapshot(full)
    STATS.add("hostile_inputs")
    result = subprocess.run(
        [sys.executable, "-c", DISK_FULL_SCRIPT, str(full), rel_server.base_url, key, url],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_disk_fills_at(limit),
        cwd=Path(__file__).parents[2],
    )
    STATS.add("runs")
    assert result.stdout.startswith("FAILED"), result.stdout[-2000:] + result.stderr[-3000:]
    text = result.stdout
    name = "medicaid-provider-spending.parquet" if what == "download" else "npi.parquet"
    assert name in text and re.search(r"file too large|no space|disk", text, re.I), text
    assert changed_files(before, snapshot(full)) == []
    assert check_state(full, finished=False) == []
    leftovers = [p for p in full.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    STATS.add("hostile_rejected")

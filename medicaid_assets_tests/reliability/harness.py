"""What the reliability tests share: CLI runs as subprocesses, state checks, output comparison, counters.

Every run here is the real ``medicaid-assets`` CLI (or, in-process, the same assets through ``Runner``) against
the sample-world server on loopback, with its own data dir and Dagster home under pytest's tmp dirs.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from medicaid_assets.defs.reference.resolution.writers import (
    HCPCS_DATASET_COLUMNS,
    HCPCS_MAPPING_COLUMNS,
    NPI_DATASET_COLUMNS,
    NPI_MAPPING_COLUMNS,
    UNRESOLVED_COLUMNS,
)
from medicaid_assets.layout import DataLayout
from medicaid_assets.sample_world.urls import world_env
from medicaid_assets.settings import PROJECT_ROOT
from medicaid_assets_tests.support.cli import cli_command as support_cli_command

PROJECT_DAGSTER_YAML = PROJECT_ROOT / "dagster_home" / "dagster.yaml"
VOLATILE = {"fetched_at_unix", "requested_at_utc", "api_run_id", "applied_at", "extracted_at"}
# The lookups' pacing for CLI runs against the emulators (the real default is 2/s, 2 in flight).
FAST_BUILD = ["--requests-per-second", "0", "--concurrency", "4"]
# Fake secrets every reference run carries in its environment; none may show up anywhere.
FAKE_SECRETS = {
    "HF_TOKEN": "hf_RELIABILITYfakeTOKEN7f3a9c1e5b2d8a4f6c0e",
    "HUGGING_FACE_HUB_TOKEN": "hf_RELIABILITYfakeHUBTOKEN2b7e1d9c4a6f8e0b3d",
    "AWS_ACCESS_KEY_ID": "AKIARELIABILITYFAKE7Q3Z",
    "AWS_SECRET_ACCESS_KEY": "reliabilityFakeSecret/k9Lm2Np4Qr6St8Uv0Wx+Yz1Ab3Cd5",
    "AWS_SESSION_TOKEN": "reliabilityFakeSessionToken4e8f2a6c0b9d3e7f1a5c8b2d6e0f4a9c",
}


# -- counters for the end-of-suite summary ----------------------------------------------------------------


class Stats:
    """Thread-safe counters the conftest prints at the end of the session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.notes: list[str] = []

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)


STATS = Stats()


# -- running the CLI ---------------------------------------------------------------------------------------


def new_home(path: Path) -> Path:
    """A Dagster home configured like the project's (pool ``duckdb`` limited to one slot, run retries)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_DAGSTER_YAML, path / "dagster.yaml")
    return path


def cli_env(data: Path, base_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without any MEDICAID_* setting, plus the data dir and the world's URLs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDICAID_") and k not in FAKE_SECRETS}
    return {**env, "MEDICAID_DATA_DIR": str(data), **world_env(base_url), "PYTHONUNBUFFERED": "1", **(extra or {})}


@dataclass
class CliRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    trigger: str | None = None  # what the watcher saw before it killed the process

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def tail(self, n: int = 3000) -> str:
        return f"$ {' '.join(self.args)}\nrc={self.returncode}\n{self.stdout[-n:]}\n{self.stderr[-n:]}"


def cli_command(command: list[str], home: Path, *, instrumented: bool = False) -> list[str]:
    module = "medicaid_assets_tests.reliability.crashpoint" if instrumented else "medicaid_assets.cli"
    return support_cli_command(command, home, module=module)


def run_cli(
    command: list[str],
    data: Path,
    home: Path,
    base_url: str,
    *,
    env: dict[str, str] | None = None,
    crash: str | None = None,
    counts: Path | None = None,
    watch: Callable[[list[str]], str | None] | None = None,
    timeout: float = 240,
    preexec_fn: Callable[[], None] | None = None,
) -> CliRun:
    """Run ``medicaid-assets <command>``; ``crash`` arms a SIGKILL point, ``watch`` kills it from outside.

    ``watch(lines)`` is polled every 10 ms with the process's output lines so far; when it returns a reason, the
    process is SIGKILLed at once. A run that outlives ``timeout`` (e.g. waiting forever on a pool slot) is
    killed and reported with ``returncode`` None-like -999.
    """
    extra = dict(env or {})
    if crash:
        extra["RELIABILITY_CRASH"] = crash
    if counts:
        extra["RELIABILITY_COUNTS"] = str(counts)
    args = cli_command(command, home, instrumented=bool(crash or counts))
    started = time.monotonic()
    proc = subprocess.Popen(
        args,
        cwd=PROJECT_ROOT,
        env=cli_env(data, base_url, extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=preexec_fn,
    )
    out: list[str] = []
    err: list[str] = []
    lines: list[str] = []
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, out, lines), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err, lines), daemon=True),
    ]
    for reader in readers:
        reader.start()
    trigger = None
    deadline = started + timeout
    while proc.poll() is None:
        if watch is not None and trigger is None:
            trigger = watch(lines)
            if trigger:
                os.killpg(proc.pid, signal.SIGKILL)
                STATS.add("kills")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            for reader in readers:
                reader.join(5)
            STATS.add("runs")
            return CliRun(args, -999, "".join(out), "".join(err), time.monotonic() - started, "TIMEOUT")
        time.sleep(0.01)
    for reader in readers:
        reader.join(10)
    STATS.add("runs")
    run = CliRun(args, proc.returncode, "".join(out), "".join(err), time.monotonic() - started, trigger)
    if crash and run.killed:
        STATS.add("kills")
    return run


def _pump(stream, sink: list[str], lines: list[str]) -> None:
    for line in stream:
        sink.append(line)
        lines.append(line)


# -- comparing results -------------------------------------------------------------------------------------


def _normaliser(data: Path, base_url: str | None) -> Callable[[object], object]:
    def same(value: object) -> object:
        if isinstance(value, str):
            value = value.replace(str(data), "<data>")
            if base_url:
                value = value.replace(base_url, "<world>")
        return value

    return same


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# How a code's answer was fetched, not what it says: after a crash the codes still unsettled are asked in a batch
# of their own, so these name that request (which is the truth), not the batch of an uninterrupted run.
REQUEST_PROVENANCE = {"url", "request_params"}


def outputs(data: Path, base_url: str | None = None, batch_provenance: bool = True) -> dict[str, list[tuple]]:
    """Every published output's rows, without the columns that record when, with paths and the server URL
    written as ``<data>`` / ``<world>``, so runs in different folders against different ports compare.

    ``batch_provenance=False`` also leaves out which request answered each HCPCS code (see REQUEST_PROVENANCE).
    """
    layout = DataLayout(data)
    same = _normaliser(data, base_url)
    out: dict[str, list[tuple]] = {}
    csvs = {
        "npi_mapping": layout.npi_mapping,
        "hcpcs_mapping": layout.hcpcs_mapping,
        "unresolved": layout.unresolved_report,
        "fallback": layout.cpt_fallback,
        **{f"triage/{p.name}": p for p in sorted(layout.triage.glob("*.csv"))},
    }
    for name, path in csvs.items():
        out[name] = [tuple(same(v) for k, v in r.items() if k not in VOLATILE) for r in _csv_rows(path)]
    for name, path in (("npi", layout.npi_dataset), ("hcpcs", layout.hcpcs_dataset)):
        table = pq.read_table(path)
        drop = VOLATILE | (REQUEST_PROVENANCE if name == "hcpcs" and not batch_provenance else set())
        keep = [c for c in table.column_names if c not in drop]
        out[name] = [tuple(same(v) for v in r.values()) for r in table.select(keep).to_pylist()]
    return out


def compare_rows(got: dict[str, list[tuple]], want: dict[str, list[tuple]]) -> dict[str, dict[str, int]]:
    """Per output: rows lost (in ``want``, not in ``got``), extra (the reverse) and duplicated; counted in STATS."""
    report = {}
    for name in sorted(set(want) | set(got)):
        g, w = Counter(got.get(name, [])), Counter(want.get(name, []))
        lost = sum((w - g).values())
        extra = sum((g - w).values())
        dup = sum(n - 1 for n in g.values() if n > 1) - sum(n - 1 for n in w.values() if n > 1)
        report[name] = {"lost": lost, "extra": extra, "duplicated": max(dup, 0)}
        STATS.add("rows_compared", sum(w.values()))
        STATS.add("rows_lost", lost)
        STATS.add("rows_duplicated_or_extra", extra + max(dup, 0))
    return {k: v for k, v in report.items() if any(v.values())}


WAREHOUSE_TABLES = {
    "spending": "*",
    "nppes_providers": "*",
    "nppes_other_names": "*",
    "nppes_practice_locations": "*",
    "nppes_endpoints": "*",
    "nppes_applied_bundles": "bundle_key, kind, source_file, source_date, zip_sha256, rows, superseded",
}


def _copy_db(path: Path, into: Path) -> Path:
    """``path`` and its WAL/journal companions copied into ``into``, so a check never changes the real state."""
    for companion in (path, *(path.with_name(path.name + s) for s in (".wal", "-wal", "-shm", "-journal"))):
        if companion.exists():
            shutil.copy2(companion, into / companion.name)
    return into / path.name


def warehouse_digest(path: Path) -> dict[str, tuple[int, int]]:
    """(rows, order-independent hash of the rows) per warehouse table, read from a copy of the file."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = _copy_db(path, Path(tmp))
        conn = duckdb.connect(str(copy), read_only=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            digest = {}
            for table, columns in WAREHOUSE_TABLES.items():
                if table in tables:
                    q = f"SELECT count(*), coalesce(sum(hash(row({columns}))::HUGEINT), 0) FROM (SELECT {columns} FROM {table}) t"
                    if columns == "*":
                        q = f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {table} t"
                    rows, h = conn.execute(q).fetchone()
                    digest[table] = (int(rows), int(h))
            stray = sorted(t for t in tables if t.endswith("__new"))
            if stray:
                digest["__stray_tables__"] = (len(stray), 0)
            return digest
        finally:
            conn.close()


def sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def raw_digest(data: Path) -> dict[str, str]:
    """sha256 of every raw file (downloads, extracted trees, the fallback), by path under raw/; metas left out."""
    raw = data / "raw"
    return {
        p.relative_to(raw).as_posix(): sha256(p)
        for p in sorted(raw.rglob("*"))
        if p.is_file() and not p.name.endswith((".meta.json", ".extracted.json", ".lock")) and p.name != "current.json"
    }


# -- checking a state (after a kill, after a failure) -------------------------------------------------------


def cache_settled(data: Path) -> dict[str, set[str]]:
    """Identifiers whose answer the caches have committed (read from copies): they must never be asked again."""
    layout = DataLayout(data)
    settled = {"npi": set(), "hcpcs": set()}
    for kind, path, query in (
        ("npi", layout.npi_cache, "SELECT npi FROM npi_cache WHERE status IN ('ok', 'not_found', 'invalid')"),
        (
            "hcpcs",
            layout.hcpcs_cache,
            "SELECT DISTINCT hcpcs_code FROM hcpcs_cache WHERE status IN ('ok', 'not_found')",
        ),
    ):
        if path.is_file():
            with tempfile.TemporaryDirectory() as tmp:
                conn = sqlite3.connect(_copy_db(path, Path(tmp)))
                try:
                    settled[kind] = {r[0] for r in conn.execute(query)}
                finally:
                    conn.close()
    return settled


OUTPUT_HEADERS = {
    "npi_mapping": NPI_MAPPING_COLUMNS,
    "hcpcs_mapping": HCPCS_MAPPING_COLUMNS,
    "unresolved_report": UNRESOLVED_COLUMNS,
}


@dataclass
class StateReport:
    problems: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        self.problems.append(text)


def check_state(data: Path, *, finished: bool) -> list[str]:
    """Everything that must hold after any run, killed or not: the warehouse and the caches open and pass their
    integrity checks, every output under its final name is complete. ``finished``: also no leftovers."""
    report = StateReport()
    layout = DataLayout(data)
    warehouse = data / "warehouse.duckdb"
    if warehouse.exists():
        try:
            digest = warehouse_digest(warehouse)
            if "__stray_tables__" in digest and finished:
                report.fail("warehouse: tables named *__new left behind")
        except Exception as exc:
            report.fail(f"warehouse.duckdb does not open: {type(exc).__name__}: {exc}")
    for path in (layout.npi_cache, layout.hcpcs_cache):
        if path.is_file():
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    conn = sqlite3.connect(_copy_db(path, Path(tmp)))
                    result = conn.execute("PRAGMA integrity_check").fetchone()[0]
                    conn.close()
                    if result != "ok":
                        report.fail(f"{path.name}: integrity_check says {result}")
                except sqlite3.Error as exc:
                    report.fail(f"{path.name} does not open: {exc}")
    for name, path in (
        ("npi_mapping", layout.npi_mapping),
        ("hcpcs_mapping", layout.hcpcs_mapping),
        ("unresolved_report", layout.unresolved_report),
    ):
        if path.exists():
            try:
                with path.open(newline="", encoding="utf-8") as fh:
                    rows = list(csv.reader(fh))
                if tuple(rows[0]) != OUTPUT_HEADERS[name] or any(len(r) != len(rows[0]) for r in rows):
                    report.fail(f"{path.name}: not a complete CSV with the contract's columns")
            except Exception as exc:
                report.fail(f"{path.name} does not read: {type(exc).__name__}: {exc}")
    for path, columns in ((layout.npi_dataset, NPI_DATASET_COLUMNS), (layout.hcpcs_dataset, HCPCS_DATASET_COLUMNS)):
        if path.exists():
            try:
                if tuple(pq.read_table(path).column_names) != columns:
                    report.fail(f"{path.name}: columns differ from the contract")
            except Exception as exc:
                report.fail(f"{path.name} does not read: {type(exc).__name__}: {exc}")
    for path in sorted((data / "assets").rglob("*.parquet")) if (data / "assets").is_dir() else []:  # hand-offs
        try:
            pq.read_metadata(path)
        except Exception as exc:
            report.fail(f"{path.name} does not read: {type(exc).__name__}: {exc}")
    if finished:
        leftovers = [
            p.relative_to(data).as_posix()
            for p in data.rglob("*")
            if p.name.endswith((".partial", ".old", ".part", ".tmp"))
            and p.relative_to(data).parts[0] not in ("sample_world", "tmp")  # tmp/: DuckDB's spill folder
        ]
        if leftovers:
            report.fail(f"leftovers after a finished run: {leftovers[:10]}")
    return report.problems


def snapshot(data: Path, skip: tuple[str, ...] = ("warehouse.duckdb",)) -> dict[str, str]:
    """sha256 of every file under ``data`` (the warehouse compared by content instead, see warehouse_digest)."""
    return {
        p.relative_to(data).as_posix(): sha256(p)
        for p in sorted(data.rglob("*"))
        if p.is_file()
        and not p.name.startswith(skip)
        and not p.name.endswith((".lock", "-wal", "-shm"))
        and "tmp" not in p.relative_to(data).parts[:1]
    }


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Files present before that were changed or removed."""
    return sorted(name for name, digest in before.items() if after.get(name) != digest)


def secret_hits(blobs: dict[str, bytes], secrets: dict[str, str] = FAKE_SECRETS) -> list[str]:
    """``where: VAR`` for every secret value found in any blob (also URL-encoded or base64-free substrings)."""
    hits = []
    for where, blob in blobs.items():
        for var, value in secrets.items():
            needles = {value.encode(), value[-16:].encode(), value.replace("/", "%2F").replace("+", "%2B").encode()}
            if any(n in blob for n in needles):
                hits.append(f"{where}: {var}")
    return hits


def request_log(server) -> list[dict]:
    return server.world.entries()


def fetched_ok(entries: list[dict], api: str) -> list[str]:
    """Identifiers answered with a usable 200 (no injected fault but a delay) by ``api``, once per answer."""
    got: list[str] = []
    for e in entries:
        if e["api"] == api and e["status"] == 200 and e["fault"] in (None, "slow"):
            ids = e["identifiers"]
            got += [i.strip().upper() for i in ids] if isinstance(ids, list) else [ids]
    return got


def asked(entries: list[dict], api: str) -> set[str]:
    got: set[str] = set()
    for e in entries:
        if e["api"] == api:
            ids = e["identifiers"]
            got |= {i.strip().upper() for i in ids} if isinstance(ids, list) else {ids}
    return got


def copy_data(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def json_dump(value: object) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str)

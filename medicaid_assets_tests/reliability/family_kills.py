"""Kill-and-resume for the families beyond the CLI pipeline: run, rewrite killed at a seeded crash point, resume.

Every scenario runs one family's assets in a child (:mod:`family_child`, which loads only the scenario's families)
four times on one data dir: an uninterrupted run (after the family's inputs, in the same child), an uninterrupted rewrite of the same inputs counting its crash-point hits (the census), a rewrite
SIGKILLed at the n-th hit of a point (n drawn from the census with a fixed seed), and the resume. After the kill, every output the first run
wrote must read back exactly as it was; after the resume, exactly as the uninterrupted run left it (nothing lost,
nothing duplicated) with no leftovers.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from medicaid_assets.settings import PROJECT_ROOT, Settings
from medicaid_assets_tests.reliability.harness import STATS, _copy_db, compare_rows

Digest = dict[str, list[tuple]]


@dataclass
class ChildRun:
    returncode: int  # -9 when killed
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def run_child(
    settings: Settings,
    families: list[str],
    plan: list[dict],
    *,
    crash: str | None = None,
    counts: Path | None = None,
    kill_after: tuple[Callable[[], bool], float] | None = None,
    timeout: float = 300,
) -> ChildRun:
    """The plan's steps in a child process loading ``families`` with ``settings``' environment; ``crash`` arms ``point:n``;
    ``kill_after=(ready, seconds)`` SIGKILLs the child's whole process group (a dbt it started too) that many
    seconds after ``ready()`` first holds.

    A subprocess, not a fork: polars' thread pool deadlocks in a child forked from a process that used it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDICAID_", "RELIABILITY_"))}
    env.update({k: v for k, v in settings.env().items() if v})
    if crash:
        env["RELIABILITY_CRASH"] = crash
    if counts:
        env["RELIABILITY_COUNTS"] = str(counts)
    with tempfile.TemporaryFile("w+") as err:
        child = [sys.executable, "-m", "medicaid_assets_tests.reliability.family_child"]
        proc = subprocess.Popen(
            [*child, json.dumps(families), json.dumps(plan)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
            start_new_session=True,
        )
        deadline, kill_at = time.monotonic() + timeout, None
        while proc.poll() is None:
            now = time.monotonic()
            if kill_after is not None and kill_at is None and kill_after[0]():
                kill_at = now + kill_after[1]
            if (kill_at is not None and now >= kill_at) or now > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.02)
        err.seek(0)
        stderr = err.read()[-4000:]
    STATS.add("runs")
    if (crash or kill_after) and proc.returncode == -signal.SIGKILL:
        STATS.add("kills")
    return ChildRun(proc.returncode, stderr)


def _frozen(value: object) -> object:
    """Lists and dicts as tuples, so rows count in a Counter."""
    if isinstance(value, list | tuple) or type(value).__name__ == "dict_values":
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _frozen(v)) for k, v in value.items())
    return value


def schema_rows(database: Path, schema: str, skip_columns: tuple[str, ...] = ()) -> Digest:
    """Every table of ``schema`` as sorted rows (``skip_columns`` left out), read from a copy of the file."""
    if not database.exists():
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        conn = duckdb.connect(str(_copy_db(database, Path(tmp))), read_only=True)
        try:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? ORDER BY 1", [schema]
                ).fetchall()
            ]
            out = {}
            for table in tables:
                columns = [
                    c
                    for (c,) in conn.execute(
                        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
                        "ORDER BY column_index",
                        [schema, table],
                    ).fetchall()
                    if c not in skip_columns
                ]
                select = ", ".join(f'"{c}"' for c in columns)
                rows = conn.execute(f"SELECT {select} FROM {schema}.{table}").fetchall()
                out[f"{schema}.{table}"] = sorted((_frozen(r) for r in rows), key=repr)
            return out
        finally:
            conn.close()


def parquet_rows(root: Path, pattern: str = "**/*.parquet") -> Digest:
    """Every parquet file under ``root`` (by relative path) as sorted rows; a file that does not read fails."""
    return {
        p.relative_to(root).as_posix(): sorted((_frozen(r.values()) for r in pq.read_table(p).to_pylist()), key=repr)
        for p in sorted(root.glob(pattern))
        if p.is_file() and not any(part.endswith((".partial", ".old")) for part in p.relative_to(root).parts)
    }


def leftovers(data: Path) -> list[str]:
    return sorted(
        p.relative_to(data).as_posix()
        for p in data.rglob("*")
        if p.name.endswith((".partial", ".old", ".part", ".tmp")) and p.relative_to(data).parts[0] != "tmp"
    )


@dataclass
class Scenario:
    """One family's kill-and-resume: its plan, what it outputs, and how to make the next run rewrite everything."""

    settings: Settings
    families: list[str]  # folders of medicaid_assets/defs the child loads (dotted): the family and its upstreams
    plan: list[dict]
    digest: Callable[[], Digest]
    rewrite: Callable[[], None]  # make the next run write every output again (same inputs, same result)
    setup: list[dict] | None = None  # steps run once before the first run, in its child (the family's inputs)


def seeded_hit(census: dict[str, int], point: str, seed: int) -> int:
    hits = census.get(point, 0)
    assert hits >= 1, f"the uninterrupted rewrite never reached {point}: nothing to kill there"
    return random.Random(seed).randint(1, hits)


def kill_and_resume(
    scenario: Scenario, point: str, seed: int, work: Path, kill_after: tuple[Callable[[], bool], float] | None = None
) -> dict[str, object]:
    """Run, rewrite killed at a seeded hit of ``point`` (or from outside: ``kill_after``, see :func:`run_child`),
    resume; assert the contract and return what happened."""
    STATS.add("crash_scenarios")
    first = run_child(scenario.settings, scenario.families, [*(scenario.setup or []), *scenario.plan])
    assert first.returncode == 0, first.stderr
    good = scenario.digest()
    assert good and all(good.values()), f"the uninterrupted run wrote nothing to compare: {list(good)}"

    # The census: an uninterrupted rewrite, counting the points the killed rewrite will pass; it writes the same.
    census_path = work / "census.json"
    scenario.rewrite()
    again = run_child(scenario.settings, scenario.families, scenario.plan, counts=census_path)
    assert again.returncode == 0, again.stderr
    assert not compare_rows(scenario.digest(), good), "an uninterrupted rewrite of the same inputs differs"
    n = seeded_hit(json.loads(census_path.read_text()), point, seed) if kill_after is None else 0

    scenario.rewrite()
    crash = f"{point}:{n}" if n else None
    killed = run_child(scenario.settings, scenario.families, scenario.plan, crash=crash, kill_after=kill_after)
    assert killed.killed, f"not killed at {point}:{n} (rc={killed.returncode}): {killed.stderr}"
    after_kill = scenario.digest()
    assert not compare_rows(after_kill, good), f"outputs changed by a run killed at {point}:{n}"
    assert after_kill == good

    resumed = run_child(scenario.settings, scenario.families, scenario.plan)
    assert resumed.returncode == 0, resumed.stderr
    after_resume = scenario.digest()
    assert not compare_rows(after_resume, good), f"the resume after {point}:{n} differs from an uninterrupted run"
    assert after_resume == good
    assert (left := leftovers(scenario.settings.data_dir)) == [], f"left by the killed run: {left}"
    where = f"{point}:{n}" if n else f"{point} (from outside)"
    STATS.note(f"{where} killed; outputs intact, resume equal ({sum(map(len, good.values())):,} rows)")
    return {"point": point, "n": n}

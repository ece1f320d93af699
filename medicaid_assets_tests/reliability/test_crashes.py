"""SIGKILL at 16 seeded points of ``download`` and ``build-datasets``; the next run must recover everything.

Kill points come from a seeded RNG over the reference run's census of instrumented points (see ``crashpoint``):
body chunks of downloads, the rename-before-metadata instant, archive members, bundle markers, statements inside
the warehouse's load transactions, statements inside the caches' transactions, atomic writes before their fsync
and their rename, rows of output files; plus kills from outside the process, timed by a seeded offset or by what
the request log and the output show. After each kill: the warehouse opens, the caches pass ``integrity_check``,
every output under its final name is complete. Then the same command runs again and must succeed (no hang on a
pool slot of the dead run), leave no leftovers, and produce exactly the uninterrupted run's raw files, warehouse
tables and outputs; and the request log must show no identifier asked again once its answer was committed.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from medicaid_assets.sample_world.server import WorldServer
from medicaid_assets_tests.reliability.harness import (
    FAST_BUILD,
    STATS,
    asked,
    cache_settled,
    check_state,
    compare_rows,
    fetched_ok,
    new_home,
    outputs,
    raw_digest,
    run_cli,
    warehouse_digest,
)

SEED = 20260322
LANES = 2  # scenarios run two at a time (one per core)
PACED_BUILD = ["--requests-per-second", "8", "--concurrency", "2"]  # so an outside kill lands among requests


@dataclass(frozen=True)
class Scenario:
    name: str
    command: str  # "download" | "build"
    point: str | None = None  # an instrumented point ...
    n: int = 0  # ... killed at its n-th hit
    watch: str | None = None  # or a kill from outside: "weekly" | "time" | "request"
    delay: float = 0.0
    k: int = 0

    @property
    def label(self) -> str:
        what = f"{self.point}#{self.n}" if self.point else f"outside:{self.watch} k={self.k} +{self.delay:.2f}s"
        return f"{self.command}/{self.name} ({what})"


def scenarios(counts: dict[str, dict[str, int]], durations: dict[str, float]) -> list[Scenario]:
    rng = random.Random(SEED)

    def n(command: str, point: str, low: float = 0.0, high: float = 1.0) -> int:
        total = counts[command][point]
        return rng.randint(max(1, int(total * low)), max(1, int(total * high)))

    download = [
        Scenario("mid-body", "download", "download.chunk", n("download", "download.chunk")),
        Scenario("renamed-no-meta", "download", "download.commit", n("download", "download.commit")),
        Scenario("extract", "download", "zip.member", n("download", "zip.member")),
        Scenario("bundle-marker", "download", "bundle.marker", n("download", "bundle.marker")),
        Scenario("warehouse", "download", "duckdb.sql", n("download", "duckdb.sql")),
        Scenario("provider-table", "download", "providers.sql", n("download", "providers.sql")),
        Scenario("weekly-runs", "download", watch="weekly", delay=rng.uniform(0.0, 0.6)),
        Scenario("timed", "download", watch="time", delay=rng.uniform(0.2, 0.8) * durations["download"]),
    ]
    build = [
        Scenario("identifiers", "build", "duckdb.sql", n("build", "duckdb.sql")),
        Scenario("cache", "build", "sqlite.write", n("build", "sqlite.write")),
        Scenario("cache-api", "build", "sqlite.write", n("build", "sqlite.write", low=0.8)),
        Scenario("before-fsync", "build", "file.fsync", n("build", "file.fsync")),
        Scenario("before-rename", "build", "file.rename", n("build", "file.rename")),
        Scenario("output-row", "build", "output.row", n("build", "output.row")),
        Scenario("in-flight", "build", watch="request", k=rng.randint(1, 5), delay=rng.uniform(0.0, 0.15)),
        Scenario("timed", "build", watch="time", delay=rng.uniform(0.3, 0.9) * durations["build"]),
    ]
    return download + build


def _watcher(scenario: Scenario, server: WorldServer):
    started = time.monotonic()
    seen: dict[str, float] = {}

    def watch(lines: list[str]) -> str | None:
        now = time.monotonic()
        if scenario.watch == "time":
            return f"{scenario.delay:.2f}s after start" if now - started >= scenario.delay else None
        if scenario.watch == "weekly" and "weekly" not in seen and any("new weekly bundles" in x for x in lines):
            seen["weekly"] = now
        if scenario.watch == "request" and "request" not in seen:
            npi = [e for e in server.world.entries() if e["api"] == "npi"]
            if len(npi) >= scenario.k:
                seen["request"] = now
        for key, at in seen.items():
            if now - at >= scenario.delay:
                return f"{scenario.delay:.2f}s after the {key} trigger"
        return None

    return watch


def _command(scenario: Scenario, paced: bool = False) -> list[str]:
    if scenario.command == "download":
        return ["download"]
    return ["build-datasets", *(PACED_BUILD if paced else FAST_BUILD)]


def run_scenario(scenario: Scenario, root: Path, world: Path, reference) -> list[str]:
    """Kill, check the crash state, run again, check the result; returns the problems found."""
    problems: list[str] = []
    data, home = root / "data", root / "home"
    STATS.add("crash_scenarios")
    with WorldServer(world) as server:
        base = server.base_url
        paced = scenario.watch == "request"
        for _ in range(3):  # a timed kill whose run finished first (a faster machine) is tried again, earlier
            shutil.rmtree(root, ignore_errors=True)
            new_home(home)
            if scenario.command == "build":
                shutil.copytree(reference.sourced, data)
            server.world.clear()
            killed = run_cli(
                _command(scenario, paced),
                data,
                home,
                base,
                crash=f"{scenario.point}:{scenario.n}" if scenario.point else None,
                watch=_watcher(scenario, server) if scenario.watch else None,
            )
            if killed.killed or scenario.watch != "time" or killed.returncode != 0:
                break
            scenario = replace(scenario, delay=scenario.delay / 2)
        if not killed.killed:
            return [f"the run was not killed (rc={killed.returncode}, trigger={killed.trigger})\n{killed.tail(1500)}"]
        kill_log = server.world.entries()
        problems += [f"after the kill: {p}" for p in check_state(data, finished=False)]
        settled = cache_settled(data)
        parts = {p: p.stat().st_size for p in data.rglob("*.part")}
        again = run_cli(_command(scenario, paced), data, home, base)
        if again.returncode != 0:
            return [*problems, f"the next run failed or hung:\n{again.tail(2500)}"]
        next_log = [e for e in server.world.entries() if e["seq"] > max((x["seq"] for x in kill_log), default=0)]
    problems += [f"after the next run: {p}" for p in check_state(data, finished=True)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        claimed = instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots
        stuck = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    if claimed or stuck:
        problems.append(f"instance: slots still claimed {claimed}, runs still STARTED {[r.run_id for r in stuck]}")
    if scenario.command == "download":
        raw = raw_digest(data)
        if raw != reference.raw:
            diff = sorted(k for k in reference.raw.keys() | raw.keys() if reference.raw.get(k) != raw.get(k))
            problems.append(f"raw files differ from the uninterrupted run's: {diff[:10]}")
        if warehouse_digest(data / "warehouse.duckdb") != reference.warehouse:
            problems.append("warehouse tables differ from the uninterrupted run's")
        for part, size in parts.items():
            url_path = part.name.removesuffix(".part")
            ranged = [e for e in next_log if e["path"].endswith("/" + url_path) and e["method"] == "GET"]
            if size and ranged and not any(e["range"] == f"bytes={size}-" for e in ranged):
                problems.append(f"{part.name} had {size} bytes: the next run restarted it instead of resuming")
            elif size and ranged:
                STATS.note(f"{scenario.label}: {url_path} resumed from byte {size:,} (HTTP Range)")
    else:
        got, want = outputs(data, base, batch_provenance=False), outputs(reference.data, reference.base_url, False)
        lost = compare_rows(got, want)
        if lost:
            problems.append(f"outputs differ from the uninterrupted run's: {lost}")
        for row in pq.read_table(data / "output" / "hcpcs.parquet").to_pylist():
            if (row["url"] or "").startswith("http") and row["hcpcs_code"].strip().upper() not in row["url"].upper():
                problems.append(f"hcpcs {row['hcpcs_code']}: answered by a request that did not ask for it")
        for api in ("npi", "hcpcs"):
            again_asked = asked(next_log, api) & settled[api]
            STATS.add("refetched_after_commit", len(again_asked))
            if again_asked:
                problems.append(f"{api}: asked again after their answer was committed: {sorted(again_asked)[:10]}")
            before, after = Counter(fetched_ok(kill_log, api)), Counter(fetched_ok(next_log, api))
            in_flight = (set(before) & set(after)) - settled[api]  # answered, killed before the commit
            if in_flight:
                STATS.add("refetched_in_flight", len(in_flight))
                STATS.note(f"{scenario.label}: {len(in_flight)} {api} answer(s) in flight at the kill, asked again")
                if len(in_flight) > (4 if api == "npi" else 100):  # concurrency 4; one Clinical Tables batch
                    problems.append(f"{api}: {len(in_flight)} answers lost at the kill, more than were in flight")
            if any(c > 1 for c in before.values()) or any(c > 1 for c in after.values()):
                problems.append(f"{api}: an identifier was fetched successfully twice within one run")
    return problems


# Four scenarios per test: two rounds of the two lanes, no core left idle by an odd one out.
GROUPS = {"download-1": (0, 4), "download-2": (4, 8), "build-1": (8, 12), "build-2": (12, 16)}


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("group", GROUPS)
def test_sigkill_at_seeded_points_then_the_next_run_recovers(group, reference, rel_world, tmp_path: Path) -> None:
    """16 seeded kill points in all (4 per group), two scenarios at a time."""
    durations = {"download": reference.runs[0].seconds, "build": reference.runs[1].seconds}
    chosen = scenarios(reference.counts, durations)
    assert len(chosen) == 16
    first, last = GROUPS[group]

    def one(i: int) -> tuple[Scenario, list[str]]:
        scenario = chosen[i]
        root = tmp_path / f"{i:02d}-{scenario.command}-{scenario.name}"
        try:
            problems = run_scenario(scenario, root, rel_world, reference)
        except Exception as exc:  # report every scenario, not only the first failure
            problems = [f"{type(exc).__name__}: {exc}"]
        STATS.note(f"{'FAILED' if problems else 'ok'}: {scenario.label}" + "".join(f"\n    {p}" for p in problems))
        return scenario, problems

    with ThreadPoolExecutor(LANES) as pool:
        results = list(pool.map(one, range(first, last)))
    failures = {s.label: p for s, p in results if p}
    assert not failures, "\n\n".join(f"{label}:\n  " + "\n  ".join(p) for label, p in failures.items())

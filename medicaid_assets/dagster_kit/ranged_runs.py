"""A job over a partition range, run as up to three runs so only partitioned assets carry the range.

Dagster (1.13) stores a time-window range on the run, and then plans every asset of the run for every
partition of the range, partitioned or not: the main job over the 84 spending months logs 84 planned
materializations for each of its ~17 assets (~1,400 events). On a SQLite instance each event is a few
committed writes, so on a disk with slow fsync the main job spent more time writing plans than working
(~60 s of ~70 s for a run with nothing new, at any data size). Running the assets that do not depend on
the partitioned ones first, the partitioned ones alone with the range, then the rest, plans each asset
once (the partitioned ones once per partition, as before).

Any partitions definition splits the same way (months, releases, states, file types, family × year). Before the
partitioned part, ``narrow`` may shrink its range to the partitions that need work, or drop the part when none
does (the CLI asks the spending table which months are not current, when the part loads that table).

The runs keep the one-run semantics that matter: an asset whose upstream did not materialize in an
earlier part (a failed step, an optional output not produced, or a failed blocking check) is left out of
the later parts, as Dagster would have skipped it in one run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dagster as dg

RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def ranged_parts(job: dg.JobDefinition, tags: dict[str, str]) -> list[tuple[set[dg.AssetKey] | None, dict[str, str]]]:
    """``(asset keys, tags)`` of each run to make for ``job`` with ``tags``, in order; ``None`` keys = the whole
    job in one run (no range tag, nothing to split, or a graph the split cannot order)."""
    whole: list[tuple[set[dg.AssetKey] | None, dict[str, str]]] = [(None, tags)]
    if not any(tag in tags for tag in RANGE_TAGS):
        return whole
    graph = job.asset_layer.asset_graph
    keys = set(job.asset_layer.selected_asset_keys)
    partitioned = {key for key in keys if graph.get(key).partitions_def is not None}
    if not partitioned or partitioned == keys:
        return whole
    downstream = dg.AssetSelection.assets(*partitioned).downstream().resolve(graph) & keys
    after = downstream - partitioned
    if dg.AssetSelection.assets(*after).downstream().resolve(graph) & partitioned if after else set():
        return whole  # partitioned assets after unpartitioned ones after partitioned ones: keep one run
    before = keys - downstream
    # One op's assets run in one part (a dbt project split in two would start dbt twice): what the op would run
    # before the partitioned ones moves after them, with what depends on it, unless the partitioned ones need it.
    moved = {k for k in before if graph.get(k).assets_def.keys & after}
    moved = dg.AssetSelection.assets(*moved).downstream().resolve(graph) & before if moved else set()
    if moved & dg.AssetSelection.assets(*partitioned).upstream().resolve(graph):
        return whole
    before, after = before - moved, after | moved
    plain = {k: v for k, v in tags.items() if k not in RANGE_TAGS}
    parts = [(before, plain), (partitioned, tags), (after, plain)]
    return [(part_keys, part_tags) for part_keys, part_tags in parts if part_keys]


def not_materialized(result: dg.ExecuteInProcessResult, keys: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """Those of ``keys`` a run did not materialize, or whose blocking check failed (downstream must not run)."""
    done = {event.asset_key for event in result.get_asset_materialization_events()}
    blocked = {e.asset_key for e in result.get_asset_check_evaluations() if e.blocking and not e.passed}
    return (keys - done) | blocked


def run_parts(
    job: dg.JobDefinition,
    tags: dict[str, str],
    execute: Callable[[dg.JobDefinition, dict[str, str]], dg.ExecuteInProcessResult],
    narrow: Callable[[set[dg.AssetKey], dict[str, str]], dict[str, str] | None] | None = None,
) -> Iterator[dg.ExecuteInProcessResult]:
    """Execute ``job`` as :func:`ranged_parts` says, yielding each run's result.

    ``narrow(asset keys, range tags)`` is asked right before the partitioned part (earlier parts may have brought
    a new source file): the tags to run it with, or None to skip it as current (its downstream still runs)."""
    graph = job.asset_layer.asset_graph
    missing: set[dg.AssetKey] = set()
    for keys, part_tags in ranged_parts(job, tags):
        if keys is None:
            yield execute(job, part_tags)
            return
        if missing:
            keys = keys - dg.AssetSelection.assets(*missing).downstream().resolve(graph)
        if not keys:
            continue
        if narrow is not None and any(tag in part_tags for tag in RANGE_TAGS):
            narrowed = narrow(keys, part_tags)
            if narrowed is None:
                continue
            part_tags = narrowed
        result = execute(job.get_subset(asset_selection=keys), part_tags)
        missing |= not_materialized(result, keys)
        yield result

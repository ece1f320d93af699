"""What a sensor over a listing does with it: each key not seen before becomes a dynamic partition and one run."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import dagster as dg


def new_partitions(
    context: dg.SensorEvaluationContext,
    partitions: dg.DynamicPartitionsDefinition,
    listed: Iterable[str],
    noun: str,
    order: Callable[[Iterable[str]], list[str]] = sorted,
) -> dg.SensorResult | dg.SkipReason:
    """Add the ``listed`` keys neither in the cursor nor already partitions of ``partitions``, in ``order``, each
    with one run (run_key = the key). The cursor is the cumulative list of keys seen; ``noun`` names one key in the
    skip message and the log ("weekly bundle", "release")."""
    listed = list(dict.fromkeys(listed))
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    known = seen | set(context.instance.get_dynamic_partitions(partitions.name))
    new = order([key for key in listed if key not in known])
    cursor = json.dumps(sorted(seen | set(listed)))
    if not new:
        if cursor != (context.cursor or "[]"):
            context.update_cursor(cursor)
        return dg.SkipReason(f"no new {noun} among the {len(listed)} listed")
    context.log.info(f"new {noun}s: {', '.join(new)}")
    return dg.SensorResult(
        dynamic_partitions_requests=[partitions.build_add_request(new)],
        run_requests=[dg.RunRequest(partition_key=key, run_key=key) for key in new],
        cursor=cursor,
    )

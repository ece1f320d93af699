"""Whether the UI's "Materialize all" over a whole asset graph can launch (the global Lineage page's button).

Dagster (1.13) decides the backfill in two places that disagree. The UI anchors the partition picker on the
partitioned assets at the roots of the selection (assets none of whose upstreams is selected): when they all share
one partitions definition it sends that definition's partition keys, otherwise it sends "all partitions". The
server then takes the partitioned assets alone and requires *their* roots to share one definition. So a graph where
a partitioned asset sits below an unpartitioned one (``warehouse/spending`` below the spending file) while another
partitioned asset is a root of the whole graph gets a picker, then a GraphQL 500
(``All the assets at the root of the backfill must have the same PartitionsDefinition``).

:func:`materialize_all_problem` runs both rules on a graph, so a test catches a new family that would break the
button; the convention (docs/conventions.md) is that no partitioned asset is a root of the graph unless every
partitioned root shares its definition.
"""

from __future__ import annotations

import dagster as dg


def _roots(parents: dict[dg.AssetKey, set[dg.AssetKey]], keys: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """Those of ``keys`` none of whose parents is among ``keys``."""
    return {key for key in keys if not (parents[key] & keys)}


def _name(definition: dg.PartitionsDefinition) -> str:
    return getattr(definition, "name", None) or type(definition).__name__


def materialize_all_problem(defs: dg.Definitions) -> str | None:
    """Why "Materialize all" over every executable asset of ``defs`` would fail, or None when it launches."""
    graph = defs.resolve_asset_graph()
    keys = {key for key in graph.get_all_asset_keys() if graph.get(key).is_executable}
    parents = {key: set(graph.get(key).parent_keys) for key in keys}
    ui_anchors = {graph.get(key).partitions_def for key in _roots(parents, keys) if graph.get(key).is_partitioned}
    if len(ui_anchors) != 1:
        return None  # the UI asks for every partition of every asset, which the server accepts
    partitioned = {key for key in keys if graph.get(key).is_partitioned}
    server_roots = _roots(parents, partitioned)
    definitions = {graph.get(key).partitions_def for key in server_roots}
    if len(definitions) == 1:
        return None
    by_definition = sorted(f"{key.to_user_string()} ({_name(graph.get(key).partitions_def)})" for key in server_roots)
    return (
        "the UI would offer one partition picker but the server needs the partitioned assets' roots to share one "
        f"partitions definition; they are: {', '.join(by_definition)}. Give the partitioned root assets an "
        "unpartitioned upstream, or the same partitions definition."
    )

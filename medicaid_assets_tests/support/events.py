"""What tests read off Dagster results: materialization metadata, asset check outcomes, step failures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg


def values(metadata: Mapping[str, dg.MetadataValue]) -> dict[str, object]:
    """Metadata as plain values (``MetadataValue.value``)."""
    return {name: value.value for name, value in metadata.items()}


def metadata(result: dg.ExecuteInProcessResult, key: str) -> dict[str, object]:
    """The plain metadata of the last materialization of asset ``key`` (``a/b``) in ``result``."""
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    assert events, f"{key} was not materialized"
    return values(events[-1].materialization.metadata)


def first_metadata(results: Iterable[dg.ExecuteInProcessResult]) -> dict[str, Mapping[str, dg.MetadataValue]]:
    """Per asset key (``a/b``), the metadata of its first materialization across ``results``."""
    out: dict[str, Mapping[str, dg.MetadataValue]] = {}
    for result in results:
        for event in result.get_asset_materialization_events():
            out.setdefault(event.asset_key.to_user_string(), event.materialization.metadata)
    return out


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """Whether each asset check passed, by ``asset/key:check_name``."""
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The run must have failed: every step failure's error in full (message, stack, and the causes Dagster wraps)."""
    assert not result.success
    failures = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
    assert failures, "the run failed without a step failure"
    return "\n".join(error.to_string() for error in failures)


def materialization_count(instance: dg.DagsterInstance, key: dg.AssetKey) -> int:
    """How many materializations of ``key`` the instance has recorded (one per partition for a range run)."""
    records = instance.fetch_materializations(key, limit=10_000).records  # the most one fetch may ask
    assert len(records) < 10_000, "too many to count in one fetch"
    return len(records)

"""The project's definitions as in-process tests run them: API pacing shrunk to test time, other resources."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from medicaid_assets.dagster_kit.resources.files import HttpFilesResource

# Retries as the product does them, with waits shrunk to test time (a 429's Retry-After is capped by backoff_max).
FAST_API = {
    "requests_per_second": 0,
    "concurrency": 4,
    "round_delay_seconds": 0.05,
    "backoff_initial_seconds": 0.01,
    "backoff_max_seconds": 0.05,
    "read_timeout_seconds": 1.0,
}

# Downloads as the product makes them (the same attempts), with the waits between attempts shrunk to test time:
# a file that keeps failing fails in well under a second instead of 15 s.
QUICK_RETRY_FILES = HttpFilesResource(backoff_seconds=0.02)


def with_resources(defs: dg.Definitions, resources: Mapping[str, object]) -> dg.Definitions:
    """``defs`` with ``resources`` in place of its own of the same names."""
    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        sensors=defs.sensors,
        schedules=defs.schedules,
        jobs=defs.jobs,
        resources={**defs.resources, **resources},
    )

"""Size and seed of a sample world, and the disjoint index ranges its providers are drawn from.

Every generator and emulator derives what it knows from a :class:`WorldSpec` alone, so a world
regenerates byte for byte from ``(seed, scale, rows)``. Scale 1.0 means the real sizes (227,083,361
spending rows, 1,802,136 distinct NPIs, a 9.4M-row NPPES monthly file, 10,881 distinct codes).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date

REAL_SPENDING_ROWS = 227_083_361
REAL_DATASET_NPIS = 1_802_136
REAL_NPPES_ROWS = 9_368_082
REAL_DISTINCT_CODES = 10_881

# The world's "today": the newest monthly bundle and the last weekly bundle end here.
WORLD_TODAY = date(2026, 11, 16)
WEEKLY_BUNDLES = 3


@dataclass(frozen=True)
class WorldSpec:
    """A deterministic world: same spec, same bytes."""

    seed: int = 20260209
    scale: float = 0.0001
    rows: int | None = None  # spending rows; overrides the scale for the spending file only

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 10:
            raise ValueError(f"scale must be in (0, 10], got {self.scale}")
        if self.rows is not None and self.rows < 100:
            raise ValueError(f"rows must be at least 100, got {self.rows}")

    # -- sizes -----------------------------------------------------------------------------
    @property
    def spending_rows(self) -> int:
        return self.rows if self.rows is not None else max(2_000, round(REAL_SPENDING_ROWS * self.scale))

    @property
    def dataset_npis(self) -> int:
        """Distinct valid NPIs the spending file uses (junk strings come on top)."""
        base = REAL_DATASET_NPIS * (self.spending_rows / REAL_SPENDING_ROWS)
        return max(120, round(base))

    @property
    def registered(self) -> int:
        """Providers in the monthly NPPES file (more than the dataset uses, as in reality)."""
        return max(self.dataset_npis + 50, round(REAL_NPPES_ROWS * self.scale))

    @property
    def weekly_new(self) -> int:
        """New NPIs spread over the weekly bundles."""
        return max(6, self.registered // 400)

    @property
    def api_only(self) -> int:
        """Valid NPIs the Registry API knows but the bulk files do not."""
        return max(5, self.dataset_npis // 60)

    @property
    def unknown(self) -> int:
        """Valid NPIs nobody knows (resolve to ``not_found``)."""
        return max(3, self.dataset_npis // 200)

    @property
    def distinct_codes(self) -> int:
        frac = self.spending_rows / REAL_SPENDING_ROWS
        return min(REAL_DISTINCT_CODES, max(300, round(REAL_DISTINCT_CODES * frac**0.5)))

    # -- index ranges (disjoint; the NPI of index i is fixed by :func:`npi_for_index`) -------
    def range_registered(self) -> range:
        return range(0, self.registered)

    def range_weekly_new(self) -> range:
        start = self.registered
        return range(start, start + self.weekly_new)

    def range_api_only(self) -> range:
        start = self.registered + self.weekly_new
        return range(start, start + self.api_only)

    def range_unknown(self) -> range:
        start = self.registered + self.weekly_new + self.api_only
        return range(start, start + self.unknown)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


# An affine permutation of the 2e8 possible NPI bodies (100000000..299999999). The multiplier is
# prime and coprime with 2e8, so distinct indices give distinct NPIs.
BODIES = 200_000_000
MULT = 7_919_993


def npi_body_for_index(seed: int, index: int) -> int:
    offset = (seed * 2_654_435_761) % BODIES
    return 100_000_000 + (index * MULT + offset) % BODIES

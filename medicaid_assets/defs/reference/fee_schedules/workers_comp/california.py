"""California: a state whose maximums are a multiple of Medicare, not a table of its own (the other shape).

California's Official Medical Fee Schedule sets hospital-outpatient and ASC facility fees from the Medicare OPPS
amount: 122 % of it for a hospital outpatient department, 80 % of that (97.6 %) for an ambulatory surgical center
(Title 8 CCR §§ 9789.30–9789.39; RAND WR-1016-DIR describes the 1.2x multiplier). CA also wage-adjusts; here
the national Medicare amount is the base, as for every Phase-1 benchmark. Recheck the multipliers against the
current regulation before relying on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from medicaid_assets.defs.reference.fee_schedules.workers_comp.handlers import WcParse, WcRow


@dataclass(frozen=True)
class MultiplierRule:
    """setting → (Medicare benchmark it multiplies: ``opps`` or ``asc``, multiplier)."""

    state: str
    settings: Mapping[str, tuple[str, float]]
    citation: str


CALIFORNIA = MultiplierRule(
    state="CA",
    settings={"opps": ("opps", 1.22), "asc": ("opps", 0.8 * 1.22)},
    citation="Title 8 CCR §§ 9789.30-9789.39 (OMFS hospital outpatient departments and ASCs)",
)
MULTIPLIER_RULES: dict[str, MultiplierRule] = {CALIFORNIA.state: CALIFORNIA}


def multiplier_rows(
    rule: MultiplierRule, year: int | None, medicare: Mapping[str, Iterable[tuple[str, str | None, float]]]
) -> WcParse:
    """Maximums as ``rule``'s multiples of Medicare; ``medicare``: ``opps``/``asc`` → (code, description, amount)."""
    parse = WcParse()
    for setting, (source, factor) in rule.settings.items():
        for code, description, medicare_amount in medicare.get(source, ()):
            parse.rows.append(
                WcRow(
                    state=rule.state,
                    schedule_year=year,
                    code=code,
                    modifier="",
                    description=description,
                    category=f"{factor:g} x Medicare {source.upper()}",
                    setting=setting,
                    max_amount=round(medicare_amount * factor, 2),
                    basis="medicare_multiplier",
                )
            )
    return parse

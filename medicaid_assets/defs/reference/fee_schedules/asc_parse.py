"""ASC Addendum AA (covered surgical procedures: payment indicator, weight, rate): a pure parser.

The layout differs from OPPS: the header's rate columns name the release month (``October 2025 Payment
Indicator``), the second column has no name and holds ``**`` or `` *`` markers (explained by the file's NOTE rows),
the title may be a quoted field with a line break inside, and NOTE paragraphs follow the rows.
"""

from __future__ import annotations

from medicaid_assets.defs.reference.fee_schedules.opps_parse import Addendum, parse_addendum

ADDENDUM_AA = {
    "hcpcs code": ("hcpcs", "code"),
    "short descriptor": ("short_descriptor", "text"),
    "subject to multiple procedure discounting": ("multiple_procedure_discounting", "text"),
    "payment indicator": ("payment_indicator", "text"),
    "payment weight": ("payment_weight", "number"),
    "payment rate": ("payment_rate", "money"),
}


def parse_addendum_aa(text: str, source: str = "Addendum AA") -> Addendum:
    """Rows with the unnamed second column kept as ``marker`` (``**``, ``*`` or None)."""
    return parse_addendum(text, ADDENDUM_AA, source, unnamed={1: "marker"})

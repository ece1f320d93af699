"""North Carolina Industrial Commission professional fee schedule: non-facility and facility maximums per code.

Layout: ``Code Mod`` (the modifier glued on: ``45378-53``, ``71046-TC``), ``NCIC Category Assignment``,
``Description``, ``NC Non-Facility Rate``, ``NC Facility Rate``.
"""

from __future__ import annotations

from medicaid_assets.defs.reference.fee_schedules.workers_comp.handlers import (
    Sheets,
    WcFormatError,
    WcParse,
    WcRow,
    amount,
    header_index,
    register,
    split_code_modifier,
)

STATE = "NC"
COLUMNS = {
    "code": ("CODE MOD",),
    "category": ("NCIC CATEGORY ASSIGNMENT",),
    "description": ("DESCRIPTION",),
    "professional_nonfacility": ("NC NON-FACILITY RATE",),
    "professional_facility": ("NC FACILITY RATE",),
}


@register(STATE)
def parse_north_carolina(files: Sheets, year: int | None) -> WcParse:
    """``files``: name → the schedule's rows (one file in practice)."""
    parse = WcParse()
    for name, data in files.items():
        rows = iter(data)
        header = next(rows, None)
        if header is None:
            raise WcFormatError(f"NC {name}: empty file")
        cols = header_index(header, COLUMNS, f"NC {name} header")
        for number, cells in enumerate(rows, start=2):
            where = f"NC {name} row {number}"
            if not any(c.strip() for c in cells):
                continue
            if len(cells) <= max(cols.values()):
                raise WcFormatError(f"{where}: {len(cells)} fields, expected {max(cols.values()) + 1}")
            code, modifier = split_code_modifier(cells[cols["code"]])
            for setting in ("professional_nonfacility", "professional_facility"):
                parse.rows.append(
                    WcRow(
                        state=STATE,
                        schedule_year=year,
                        code=code,
                        modifier=modifier,
                        description=cells[cols["description"]].strip() or None,
                        category=cells[cols["category"]].strip() or None,
                        setting=setting,
                        max_amount=amount(cells[cols[setting]], f"{where} {setting}", parse),
                    )
                )
    return parse

"""Georgia SBWC fee schedule: one sheet per section (exported as CSV), maximums per code for three settings.

Layout (the workbook as published, one CSV per sheet): unnamed marker columns, ``CODE`` (stored as a number, so
anesthesia ``00100`` reads ``100``), ``MOD``, ``DESCRIPTION`` (``DESRIPTION`` on the anesthesia sheet), ``PROF MAR``
(professional maximum; ``BR`` = by report), ``OP MAR`` and ``ASC MAR`` (hospital-outpatient and ASC maximums; ``0``
= packaged, a blank = none), or ``BASE UNIT`` on the anesthesia sheet. A stray formula (``=H588*0.9``) sits in an
unnamed column of the radiology sheet: it is reported, never read as a value.
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
    restore_code,
)

STATE = "GA"
CODE_COLUMNS = {"code": ("CODE",), "modifier": ("MOD",), "description": ("DESCRIPTION", "DESRIPTION")}
AMOUNT_COLUMNS = {"professional": "PROF MAR", "opps": "OP MAR", "asc": "ASC MAR"}


@register(STATE)
def parse_georgia(sheets: Sheets, year: int | None) -> WcParse:
    """``sheets``: section name (``Surgery``, ``Anesthesia``, …) → that sheet's rows; other sheets are skipped."""
    parse = WcParse()
    for section, data in sheets.items():
        rows = iter(data)
        header = next(rows, None)
        if header is None:
            raise WcFormatError(f"GA {section}: empty sheet")
        names = [h.strip().upper() for h in header]
        if "CODE" not in names:  # the workbook's notes and index sheets
            parse.skipped.append(section)
            continue
        cols = header_index(names, CODE_COLUMNS, f"GA {section} header")
        amounts = {s: names.index(n) for s, n in AMOUNT_COLUMNS.items() if n in names}
        units = names.index("BASE UNIT") if "BASE UNIT" in names else None
        if not amounts and units is None:
            raise WcFormatError(f"GA {section} header: none of {list(AMOUNT_COLUMNS.values())} or BASE UNIT")
        unnamed = [i for i, name in enumerate(names) if not name]
        for number, cells in enumerate(rows, start=2):
            cells = cells + [""] * (len(names) - len(cells))
            where = f"GA {section} row {number}"
            if not cells[cols["code"]].strip():
                continue
            for i in unnamed:  # marker columns hold symbols; a formula there is worth telling
                if cells[i].strip().startswith("="):
                    parse.formula_cells.append(f"{where} column {i + 1}: {cells[i].strip()}")
            code = restore_code(cells[cols["code"]])
            base = {
                "state": STATE,
                "schedule_year": year,
                "code": code,
                "modifier": cells[cols["modifier"]].strip().upper(),
                "description": cells[cols["description"]].strip() or None,
                "category": section,
            }
            for setting, index in amounts.items():
                parse.rows.append(
                    WcRow(**base, setting=setting, max_amount=amount(cells[index], f"{where} {names[index]}", parse))
                )
            if units is not None:
                parse.rows.append(
                    WcRow(
                        **base,
                        setting="anesthesia",
                        max_amount=None,
                        base_units=amount(cells[units], f"{where} BASE UNIT", parse),
                    )
                )
    return parse

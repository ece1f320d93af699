"""The billing-code whitelist: which in-network items are kept, applied before any provider expansion.

The default is CMS's "500 shoppable services" as shipped by a peer (``formats/tic_500_shoppable_services_cpt_whitelist.csv``),
a dirty file: spreadsheet handling dropped the leading zero of anesthesia codes (``1960`` for ``01960``) and it mixes
MS-DRG numbers (``460``, ``470``, ``473``, ``743``) in with CPT/HCPCS codes. Normalized here: 4-digit numbers are
CPT codes that lost their zero, 3-digit numbers are MS-DRGs and match only ``MS-DRG`` items (whose codes payers
write as ``470``, ``0470`` or ``00470``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DEFAULT_WHITELIST = Path(
    str(resources.files("medicaid_assets.formats").joinpath("tic_500_shoppable_services_cpt_whitelist.csv"))
)
CPT_TYPES = frozenset({"CPT", "HCPCS", "HCPCS/CPT", "CPT/HCPCS"})  # payers label HCPCS codes CPT and back
DRG_TYPES = frozenset({"MS-DRG", "MSDRG", "DRG"})
# Any "billing_code" value in an item's bytes (bundled codes included): the byte prefilter is a superset of the
# items kept, confirmed after decoding against the item's own type and code.
CODE_BYTES = re.compile(rb'"billing_code"\s*:\s*"?\s*([A-Za-z0-9]+)')


@dataclass(frozen=True)
class Whitelist:
    """CPT/HCPCS codes and MS-DRGs (3 digits, zero-padded) to keep, and the byte tokens that can spell them."""

    cpt: frozenset[str]
    drg: frozenset[str]

    @property
    def tokens(self) -> frozenset[bytes]:
        spelled = {c.encode() for c in self.cpt}
        spelled |= {c.lower().encode() for c in self.cpt}
        for d in self.drg:
            spelled |= {d.zfill(w).encode() for w in (3, 4, 5)} | {d.lstrip("0").encode() or b"0"}
        return frozenset(spelled)

    def keeps(self, code_type: str | None, code: str) -> bool:
        kind = (code_type or "").strip().upper()
        if kind in CPT_TYPES:
            return code.strip().upper() in self.cpt
        if kind in DRG_TYPES:
            digits = code.strip()
            return digits.isdigit() and digits.lstrip("0").zfill(3)[-3:] in self.drg and len(digits.lstrip("0")) <= 3
        return False


def normalize_code(raw: str) -> tuple[str, str]:
    """(kind, code) of one whitelist entry: ``("cpt", "01960")`` for ``1960``, ``("drg", "470")`` for ``470``."""
    code = raw.strip().upper()
    if code.isdigit() and len(code) <= 3:
        return "drg", code.zfill(3)
    if code.isdigit() and len(code) == 4:
        return "cpt", code.zfill(5)
    return "cpt", code


def load_whitelist(path: Path = DEFAULT_WHITELIST) -> Whitelist:
    """Read a whitelist CSV with a ``billing_code`` column (other columns ignored)."""
    cpt: set[str] = set()
    drg: set[str] = set()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "billing_code" not in reader.fieldnames:
            raise ValueError(f"{path}: a whitelist needs a 'billing_code' column, found {reader.fieldnames}")
        for row in reader:
            if not (row.get("billing_code") or "").strip():
                continue
            kind, code = normalize_code(row["billing_code"])
            (drg if kind == "drg" else cpt).add(code)
    return Whitelist(frozenset(cpt), frozenset(drg))

"""Triage of unresolved identifiers: what kind of value each one is, and how many of each kind.

Most unresolved identifiers are not lookup failures but values the APIs cannot know (a numeric CPT
code, which the NLM Level II table never has; a revenue code; a code with a modifier glued on; a
placeholder). Naming the kind tells a reader which misses are expected and which need a look.

Every value is normalised to ``norm`` = trimmed, upper-case; the kind depends only on ``norm``.

NPI kinds, first match wins:

===============  ===========================================================  =========
kind             rule (on norm)                                               base_code
===============  ===========================================================  =========
placeholder      a placeholder word (below), or one digit repeated            (empty)
                 (``0000000000``, ``9999999999``)
non_numeric      anything but ASCII digits (``ABC1234567``)                   (empty)
wrong_length     digits, not 10 of them (``123456789``, ``12345678901``)      norm
bad_check_digit  10 digits failing the NPI check digit                        norm
valid_unknown    a valid NPI the registry does not know (or that errored)     norm
===============  ===========================================================  =========

Placeholder words: no letter or digit at all (empty, ``-``, ``?``), ``NA``, ``N/A``, ``NULL``,
``NONE``, ``NAN``, ``NIL``, ``UNK``, ``UNKNOWN``.

Code kinds (HCPCS column), first match wins; ``M`` = a 2-character modifier ``[A-Z0-9]{2}``:

=================  ==========================================  =========  ==================
kind               rule (on norm)                              base_code  suffix_or_modifier
=================  ==========================================  =========  ==================
placeholder        a placeholder word, or zeros (``0``)        (empty)    (empty)
long_number        6 or more digits (``1234567``)              norm       (empty)
cpt                5 digits (``99213``)                        norm       (empty)
cpt_cat2           4 digits + ``F`` (``0001F``)                norm       (empty)
cpt_cat3           4 digits + ``T`` (``0042T``)                norm       (empty)
cpt_pla            4 digits + ``U`` (``0001U``)                norm       (empty)
digits_letter      4 digits + another letter (``1234A``)       norm       (empty)
revenue_code       4 digits (``0450``)                         norm       (empty)
three_digit        3 digits (``123``)                          norm       (empty)
cdt                ``D`` + 4 digits (``D1234``)                norm       (empty)
level2             ``A``–``V`` (not D) + 4 digits (``Q3014``)  norm       (empty)
cpt_modifier       cpt/cat2/cat3/pla + M or MM (``99213GT``)   the code   the modifier(s)
level2_modifier    level2 + M or MM (``Q3014GT``)              the code   the modifier(s)
cdt_suffix         cdt + 1–2 letters/digits (``D1234A``)       the code   the suffix
modifier           2 letters/digits (``GT``, ``25``)           (empty)    norm
word               3+ letters only (``LTFUP``, ``VOID``)       (empty)    (empty)
icd10_pcs_like     7 of ``0-9 A-H J-N P-Z`` (``0DTJ4ZZ``)      norm       (empty)
odd_5char          5 letters/digits not above (``X1234``)      norm       (empty)
unknown            anything else (``H)015``, ``NT/WKN``)       (empty)    (empty)
=================  ==========================================  =========  ==================

Differences from the original ``triage.rs``, on purpose: all-digit strings are never split into
code + modifier (``9921325`` is a ``long_number``, not CPT + ``25``, since the split is a guess);
Category II/III/PLA codes take modifiers like CPT; Level II needs A–V (the range the NLM table
documents); kind names are lower-case and shorter. The original's ``*_unmapped_rows.csv`` files are
not written: they join the spending rows, which this pure module does not read.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from medicaid_assets.core.atomic import atomic_write
from medicaid_assets.core.npi import is_valid_npi
from medicaid_assets.defs.reference.resolution.writers import (
    TRIAGE_COLUMNS,
    UNRESOLVED_COLUMNS,
    Row,
    row_values,
    write_csv,
)

NPI_KINDS = ("placeholder", "non_numeric", "wrong_length", "bad_check_digit", "valid_unknown")
# Kinds whose value is a code with something glued on (the ``hcpcs_concat_unique_counts.csv`` rows).
CONCAT_KINDS = ("cpt_modifier", "level2_modifier", "cdt_suffix")
# Kinds whose shape says nothing, listed with their prefixes for a human to look at.
UNKNOWN_KINDS = ("odd_5char", "unknown")

_PLACEHOLDER_WORDS = frozenset({"NA", "N/A", "NULL", "NONE", "NAN", "NIL", "UNK", "UNKNOWN"})
_CODE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.ASCII))
    for kind, pattern in (
        ("long_number", r"[0-9]{6,}"),
        ("cpt", r"[0-9]{5}"),
        ("cpt_cat2", r"[0-9]{4}F"),
        ("cpt_cat3", r"[0-9]{4}T"),
        ("cpt_pla", r"[0-9]{4}U"),
        ("digits_letter", r"[0-9]{4}[A-Z]"),
        ("revenue_code", r"[0-9]{4}"),
        ("three_digit", r"[0-9]{3}"),
        ("cdt", r"D[0-9]{4}"),
        ("level2", r"[A-CE-V][0-9]{4}"),
        ("cpt_modifier", r"(?P<base>[0-9]{5}|[0-9]{4}[FTU])(?P<suffix>(?:[A-Z0-9]{2}){1,2})"),
        ("level2_modifier", r"(?P<base>[A-CE-V][0-9]{4})(?P<suffix>(?:[A-Z0-9]{2}){1,2})"),
        ("cdt_suffix", r"(?P<base>D[0-9]{4})(?P<suffix>[A-Z0-9]{1,2})"),
        ("modifier", r"(?P<suffix>[A-Z0-9]{2})"),
        ("word", r"[A-Z]{3,}"),
        ("icd10_pcs_like", r"[0-9A-HJ-NP-Z]{7}"),
        ("odd_5char", r"[A-Z0-9]{5}"),
    )
)
# Kinds that carry no base code (the value is not a code, or only a modifier).
_NO_BASE_KINDS = frozenset({"placeholder", "modifier", "word", "unknown"})
CODE_KINDS = ("placeholder", *(kind for kind, _ in _CODE_RULES), "unknown")

# Positions in a TRIAGE_COLUMNS row.
_STATUS = TRIAGE_COLUMNS.index("status")
_KIND = TRIAGE_COLUMNS.index("inferred_code_type")
_SUFFIX = TRIAGE_COLUMNS.index("suffix_or_modifier")
_NORM = TRIAGE_COLUMNS.index("identifier_norm")


class CodeKind(NamedTuple):
    kind: str
    base_code: str
    suffix_or_modifier: str
    norm: str


def normalise(value: str | None) -> str:
    """Trimmed upper-case text: the form every kind rule reads."""
    return (value or "").strip().upper()


def _is_placeholder(norm: str) -> bool:
    return norm in _PLACEHOLDER_WORDS or not any(ch.isalnum() for ch in norm)


def infer_npi_kind(value: str | None) -> str:
    """The NPI kind of ``value`` (table in the module docstring)."""
    norm = normalise(value)
    is_digits = norm.isascii() and norm.isdigit()
    if _is_placeholder(norm) or (is_digits and len(set(norm)) == 1):
        return "placeholder"
    if not is_digits:
        return "non_numeric"
    if len(norm) != 10:
        return "wrong_length"
    return "valid_unknown" if is_valid_npi(norm) else "bad_check_digit"


def infer_code_kind(value: str | None) -> CodeKind:
    """The code kind of ``value`` with its base code and suffix (table in the module docstring)."""
    norm = normalise(value)
    if _is_placeholder(norm) or set(norm) == {"0"}:
        return CodeKind("placeholder", "", "", norm)
    for kind, pattern in _CODE_RULES:
        if match := pattern.fullmatch(norm):
            groups = match.groupdict()
            base = "" if kind in _NO_BASE_KINDS else groups.get("base") or norm
            return CodeKind(kind, base, groups.get("suffix") or "", norm)
    return CodeKind("unknown", "", "", norm)


def _sorted_counts(counter: Counter) -> list[tuple]:
    """Most frequent first, ties by key, so files diff cleanly between runs."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def _block_summary(rows: list[tuple], kinds: Sequence[str]) -> dict[str, object]:
    """Row count, statuses, and every kind in table order (zeros kept, so charts keep stable bars)."""
    kind_counts = Counter(row[_KIND] for row in rows)
    return {
        "rows": len(rows),
        "statuses": dict(_sorted_counts(Counter(row[_STATUS] for row in rows))),
        "kinds": {kind: kind_counts[kind] for kind in kinds},
    }


@dataclass(frozen=True)
class TriageResult:
    """Unresolved identifiers with their kinds, as TRIAGE_COLUMNS rows, one list per identifier type."""

    npi_rows: list[tuple]
    hcpcs_rows: list[tuple]

    def summary(self) -> dict[str, dict[str, object]]:
        """Per identifier type: rows, statuses, kinds (``summary.json``, Dagster metadata and charts)."""
        return {"npi": _block_summary(self.npi_rows, NPI_KINDS), "hcpcs": _block_summary(self.hcpcs_rows, CODE_KINDS)}


def triage(unresolved: Iterable[Row]) -> TriageResult:
    """Infer the kind of every row of the unresolved report (UNRESOLVED_COLUMNS), keeping its order."""
    npi_rows: list[tuple] = []
    hcpcs_rows: list[tuple] = []
    for row in unresolved:
        values = row_values(row, UNRESOLVED_COLUMNS)
        identifier_type = normalise(values[0]).lower()
        if identifier_type == "npi":
            kind = infer_npi_kind(values[1])
            norm = normalise(values[1])
            base = norm if kind in ("wrong_length", "bad_check_digit", "valid_unknown") else ""
            npi_rows.append((*values, kind, base, "", norm))
        elif identifier_type == "hcpcs":
            code = infer_code_kind(values[1])
            hcpcs_rows.append((*values, code.kind, code.base_code, code.suffix_or_modifier, code.norm))
        else:
            raise ValueError(f"unexpected identifier_type {values[0]!r} in {row!r}")
    return TriageResult(npi_rows, hcpcs_rows)


def write_triage(folder: Path, result: TriageResult) -> dict[str, int]:
    """Write the triage CSVs and ``summary.json`` into ``folder``; returns rows written per CSV.

    The ``*_unmapped_unique_counts.csv`` files count unresolved identifiers per kind
    (``inferred_code_type,count``); the original counted per normalised identifier, which is 1 for
    almost every row since the report already holds distinct identifiers.
    """
    hcpcs = result.hcpcs_rows
    unknown = Counter(row[_NORM] for row in hcpcs if row[_KIND] in UNKNOWN_KINDS)
    unknown_items = _sorted_counts(unknown)
    prefix2: Counter[str] = Counter()
    for norm, count in unknown_items:
        prefix2[norm[:2]] += count
    concat = Counter((row[_KIND], row[_SUFFIX]) for row in hcpcs if row[_KIND] in CONCAT_KINDS)

    def kind_counts(rows: list[tuple]) -> list[tuple]:
        return _sorted_counts(Counter(row[_KIND] for row in rows))

    files: dict[str, tuple[Sequence[str], Iterable[Sequence[object]]]] = {
        "npi_identifiers_with_inferred_types.csv": (TRIAGE_COLUMNS, result.npi_rows),
        "npi_unmapped_unique_counts.csv": (("inferred_code_type", "count"), kind_counts(result.npi_rows)),
        "hcpcs_identifiers_with_inferred_types.csv": (TRIAGE_COLUMNS, hcpcs),
        "hcpcs_unmapped_unique_counts.csv": (("inferred_code_type", "count"), kind_counts(hcpcs)),
        "hcpcs_unknown_unique_with_prefixes.csv": (
            ("identifier_norm", "count", "len", "prefix2", "prefix3"),
            [(norm, count, len(norm), norm[:2], norm[:3]) for norm, count in unknown_items],
        ),
        "hcpcs_unknown_prefix2_counts.csv": (("prefix2", "count"), _sorted_counts(prefix2)),
        "hcpcs_concat_unique_counts.csv": (
            ("inferred_code_type", "suffix_or_modifier", "count"),
            [(kind, suffix, count) for (kind, suffix), count in _sorted_counts(concat)],
        ),
    }
    written = {name: write_csv(folder / name, columns, rows) for name, (columns, rows) in files.items()}
    with atomic_write(folder / "summary.json", "w", encoding="utf-8") as fh:
        json.dump(result.summary(), fh, indent=2)
        fh.write("\n")
    return written

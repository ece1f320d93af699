"""Answers of the NLM Clinical Tables HCPCS v3 search emulator.

The real service answers ``[total, [codes], extra_fields_or_null, [[df values…], …]]`` (see
original-pipeline-notes §3b; no recorded response exists, so details below are our reading of its
documentation). It knows Level II codes only; here that is every ``code_universe`` code with
``in_api``, one entry per record (a code may have several: NOC and not, or a terminated definition).
Entries are ordered by code, then record; ``display`` is the short description.
"""

from __future__ import annotations

import re
from functools import lru_cache

from medicaid_assets.sample_world.code_universe import CodeRecord, code_universe
from medicaid_assets.sample_world.spec import WorldSpec

EXTRA_FIELDS = ("short_desc", "long_desc", "add_dt", "term_dt", "act_eff_dt", "obsolete", "is_noc")
FIELDS = ("code", "display", *EXTRA_FIELDS)
DEFAULT_COUNT = 7
MAX_COUNT = 500
DEFAULT_SF = "code,short_desc,long_desc"
DEFAULT_DF = "code,display"

_Q = re.compile(r"\s*code\s*:\s*(?:\(([^()]*)\)|([^\s()]+))\s*", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")

Entry = tuple[str, CodeRecord]


class HcpcsQueryError(ValueError):
    """A request the emulator cannot answer (bad ``q``, unknown field, bad number); HTTP 400."""


@lru_cache(maxsize=4)
def api_entries(spec: WorldSpec) -> tuple[Entry, ...]:
    """Every ``(code, record)`` the API knows, ordered by code then record."""
    codes = sorted((c for c in code_universe(spec) if c.in_api), key=lambda c: c.code)
    return tuple((c.code, r) for c in codes for r in c.records)


def query_codes(q: str) -> list[str]:
    """Upper-cased codes of ``code:X`` or ``code:(A OR B …)``; ``[]`` for an empty ``q``."""
    if not q.strip():
        return []
    m = _Q.fullmatch(q)
    if not m:
        raise HcpcsQueryError(f"unsupported q: {q!r} (expected code:X or code:(A OR B ...))")
    if m.group(2):
        return [m.group(2).upper()]
    parts = m.group(1).split()
    codes = parts[::2]
    if not codes or any(op.upper() != "OR" for op in parts[1::2]) or len(parts) % 2 == 0:
        raise HcpcsQueryError(f"unsupported q: {q!r} (codes must be joined by OR)")
    return [c.upper() for c in codes]


def _value(entry: Entry, field: str) -> str | bool:
    code, record = entry
    if field == "code":
        return code
    if field == "display":
        return record.short_desc
    return getattr(record, field)


def _fields(raw: str, allowed: tuple[str, ...], param: str) -> list[str]:
    names = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [f for f in names if f not in allowed]
    if unknown:
        raise HcpcsQueryError(f"unknown {param} field(s): {', '.join(unknown)}")
    return names


def _int(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise HcpcsQueryError(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def _matches_terms(entry: Entry, tokens: list[str], sf: list[str]) -> bool:
    """Every term token is a prefix of some word of the search fields (the service's autocomplete rule)."""
    words = _WORD.findall(" ".join(str(_value(entry, f)) for f in sf).lower())
    return all(any(w.startswith(t) for w in words) for t in tokens)


def hcpcs_api_response(spec: WorldSpec, query: dict[str, str]) -> list:
    """The body of ``GET /api/hcpcs/v3/search?<query>``; raises :class:`HcpcsQueryError` for a 400."""
    sf = _fields(query.get("sf") or DEFAULT_SF, FIELDS, "sf")
    df = _fields(query.get("df") or DEFAULT_DF, FIELDS, "df")
    ef = _fields(query.get("ef", ""), EXTRA_FIELDS, "ef")
    count = min(_int(query, "count", DEFAULT_COUNT), MAX_COUNT)
    offset = _int(query, "offset", 0)
    wanted = set(query_codes(query.get("q", "")))
    tokens = _WORD.findall(query.get("terms", "").lower())
    hits = [
        e for e in api_entries(spec) if (not wanted or e[0] in wanted) and (not tokens or _matches_terms(e, tokens, sf))
    ]
    page = hits[offset : offset + count]
    extra = {name: [_value(e, name) for e in page] for name in ef} or None
    return [len(hits), [e[0] for e in page], extra, [[_value(e, f) for f in df] for e in page]]

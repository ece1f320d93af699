"""NLM Clinical Tables HCPCS v3: the requests the pipeline sends and how their answers are read (pure).

An answer is ``[total, [codes], {ef field: [values…]} | null, [[code, display], …]]`` with parallel
arrays (original-pipeline-notes §1.6, §3b). A code may come back several times (NOC and not, a
terminated definition): every record is kept. Only records whose code equals a requested code
(case-insensitively) count, so a batch answer can be split per code, and the per-code answer is what the
cache stores as that code's ``response_json`` (as the original did for batched calls).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from medicaid_assets.core.fetcher import TransientError, body_preview
from medicaid_assets.core.values import parse_bool
from medicaid_assets.defs.reference.resolution.hcpcs_cache import HcpcsRecord

EXTRA_FIELDS = ("short_desc", "long_desc", "add_dt", "term_dt", "act_eff_dt", "obsolete", "is_noc")
DATE_FIELDS = ("add_dt", "term_dt", "act_eff_dt")
BATCH_COUNT = 500  # the service's page-size maximum
SINGLE_COUNT = 20
_NOT_DIGIT = re.compile(r"\D")

Answer = list  # [total, codes, extra_fields | None, display]
HcpcsStatus = Literal["ok", "absent", "error"]


class MalformedAnswer(TransientError):
    """A body that is not the four-element answer; transient, since a proxy page or a cut body looks like this."""


@dataclass(frozen=True)
class HcpcsOutcome:
    """One code's answer. ``absent``: the API does not know the code (check the fallback before caching
    ``not_found``). ``response`` is the per-code answer (see :func:`per_code_response`)."""

    code: str  # as requested
    status: HcpcsStatus
    records: tuple[HcpcsRecord, ...] = ()
    response: Answer | None = None
    error_message: str | None = None


def _query_code(code: str) -> str:
    return code.strip().upper()


def _common(count: int) -> dict[str, str]:
    return {"count": str(count), "df": "code,display", "ef": ",".join(EXTRA_FIELDS)}


def batch_params(codes: Sequence[str]) -> dict[str, str]:
    """``terms=&sf=code&q=code:(C1 OR C2 …)&count=500&df=code,display&ef=…`` (codes upper-cased, order kept)."""
    q = " OR ".join(_query_code(c) for c in codes)
    return {"terms": "", "sf": "code", "q": f"code:({q})", **_common(BATCH_COUNT)}


def single_params(code: str) -> dict[str, str]:
    """``terms={code}&sf=code&q=code:{code}&count=20&df=code,display&ef=…``, the fallback for a failed batch."""
    c = _query_code(code)
    return {"terms": c, "sf": "code", "q": f"code:{c}", **_common(SINGLE_COUNT)}


def load_answer(body: bytes | str) -> Answer:
    """The decoded answer; :class:`MalformedAnswer` when it is not ``[int, [str…], dict | null, list]``."""
    raw = body.encode() if isinstance(body, str) else body
    try:
        answer = json.loads(raw)
    except ValueError as exc:
        raise MalformedAnswer(f"body is not JSON: {body_preview(raw)}") from exc
    except RecursionError as exc:  # e.g. [[[[…]]]] nested past the parser's depth
        raise MalformedAnswer(f"body is not JSON we accept (nested too deep): {body_preview(raw)}") from exc
    if not (isinstance(answer, list) and len(answer) == 4):
        raise MalformedAnswer(f"expected [total, codes, extra_fields, display]: {body_preview(raw)}")
    total, codes, extra, display = answer
    if (
        isinstance(total, bool)
        or not isinstance(total, int)
        or not isinstance(codes, list)
        or not all(isinstance(c, str) for c in codes)
        or not (extra is None or (isinstance(extra, dict) and all(isinstance(v, list) for v in extra.values())))
        or not isinstance(display, list)
    ):
        raise MalformedAnswer(f"unexpected types in [total, codes, extra_fields, display]: {body_preview(raw)}")
    return answer


def answer_is_complete(answer: Answer) -> bool:
    """False when ``total`` says more records matched than the page holds: an absent code is then unproven."""
    return answer[0] <= len(answer[1])


def normalise_date(value: object) -> str:
    """``YYYYMMDD`` from a date in any punctuation (``2020-01-01``, ``2020/01/01``), else ``""``."""
    digits = _NOT_DIGIT.sub("", "" if value is None else str(value))
    return digits if len(digits) == 8 else ""


def _flag(value: object) -> str:
    """Any spelling of a flag as the cache stores it: ``true``/``false``."""
    on = value if isinstance(value, bool) else value is not None and parse_bool(str(value))
    return "true" if on else "false"


def _at(values: list | None, i: int) -> object:
    return values[i] if values is not None and i < len(values) else None


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _record(answer: Answer, i: int) -> HcpcsRecord:
    """The ``i``-th record in the cache's conventions (its ``[code, display]`` pair stays in the per-code answer)."""
    fields = {f: _at((answer[2] or {}).get(f), i) for f in EXTRA_FIELDS}
    return HcpcsRecord(
        short_desc=_text(fields["short_desc"]),
        long_desc=_text(fields["long_desc"]),
        **{f: normalise_date(fields[f]) for f in DATE_FIELDS},
        obsolete=_flag(fields["obsolete"]),
        is_noc=_flag(fields["is_noc"]),
    )


def _positions(answer: Answer) -> dict[str, list[int]]:
    """Upper-cased code -> indices of its records in the answer."""
    out: dict[str, list[int]] = defaultdict(list)
    for i, code in enumerate(answer[1]):
        out[_query_code(code)].append(i)
    return out


def parse_answer(requested: Sequence[str], answer: Answer) -> dict[str, list[HcpcsRecord]]:
    """Every record of each requested code (keyed as requested; ``[]`` when the answer has none)."""
    positions = _positions(answer)
    return {code: [_record(answer, i) for i in positions.get(_query_code(code), [])] for code in requested}


def _filtered(answer: Answer, indices: list[int]) -> Answer:
    _, codes, extra, display = answer
    kept_extra = None if extra is None else {f: [v[i] for i in indices if i < len(v)] for f, v in extra.items()}
    return [len(indices), [codes[i] for i in indices], kept_extra, [display[i] for i in indices if i < len(display)]]


def per_code_response(code: str, answer: Answer) -> Answer:
    """The answer cut down to ``code``'s records: ``[n, [code…], {field: […]}, [[code, display]…]]``."""
    return _filtered(answer, _positions(answer).get(_query_code(code), []))


def code_outcomes(requested: Sequence[str], answer: Answer) -> dict[str, HcpcsOutcome]:
    """``ok`` or ``absent`` for each requested code, from one successful answer."""
    return {
        code: HcpcsOutcome(code, "ok" if records else "absent", tuple(records), per_code_response(code, answer))
        for code, records in parse_answer(requested, answer).items()
    }

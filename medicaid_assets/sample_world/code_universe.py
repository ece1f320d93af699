"""The sample world's procedure codes, with which source knows each one.

The mix mirrors the real file's 10,881 ``HCPCS_CODE`` values (see the contract, section 1, and the
original's unresolved report): CPT codes the PPRRVU file describes, Level II codes known to the
Level II annual file and/or the Clinical Tables API, and the junk that is no HCPCS code at all. Real
PPRRVU rows from ``medicaid_assets/formats`` anchor the vocabulary; the rest is synthesised.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from medicaid_assets.sample_world.spec import WorldSpec

LEVEL2_LETTERS = "ABCEGHJKLMPQRSTUV"  # Clinical Tables serves A-V; D codes are dental (CDT) and unknown to it

# Shares of distinct codes per kind (the rest of the vocabulary is CPT described by PPRRVU).
KIND_SHARES: tuple[tuple[str, float], ...] = (
    ("cpt_unlisted", 0.04),  # 5-digit CPT absent from every file -> not_found
    ("cpt_cat2", 0.035),  # ####F
    ("cpt_cat3", 0.012),  # ####T
    ("pla", 0.012),  # ####U
    ("level2_pprrvu", 0.14),  # in PPRRVU and the Level II file (and the API)
    ("level2_file", 0.08),  # in the Level II annual file and the API
    ("level2_api", 0.06),  # only the API knows it (new codes)
    ("level2_unknown", 0.02),  # looks like Level II, nobody knows it
    ("cdt", 0.04),  # D####
    ("revenue", 0.025),  # 4-digit revenue codes like 0450
    ("code_modifier", 0.015),  # 99213GT, Q3014GT
    ("word", 0.007),  # VOID, LTFUP
    ("odd", 0.02),  # 3-digit, 6-8 digits, ####[A-Z], ICD-10-PCS-like
)
PLACEHOLDERS = ("0", "NULL", "NA")
WORDS = ("VOID", "LTFUP", "NOCHG", "UNK", "MISC", "PENDING", "ADJUST", "CREDIT")
MODIFIERS = ("GT", "TC", "26", "59", "HQ", "U1", "HE", "95")

_BODY = (
    "knee",
    "hip",
    "shoulder",
    "spine",
    "eye",
    "ear",
    "skin",
    "heart",
    "lung",
    "kidney",
    "liver",
    "nerve",
    "bone",
    "joint",
    "tooth",
    "blood",
    "urine",
    "brain",
    "wrist",
    "ankle",
    "colon",
    "bladder",
    "thyroid",
)
_ACTS = (
    "Repair",
    "Removal",
    "Exam",
    "Biopsy",
    "Injection",
    "Imaging",
    "Drainage",
    "Reconstruction",
    "Assay",
    "Test",
    "Therapy",
    "Evaluation",
    "Incision",
    "Excision",
    "Fixation",
    "Scan",
    "Culture",
    "Panel",
)
_QUALS = (
    "w/o contrast",
    "w/contrast",
    "each addl",
    "complex",
    "simple",
    "bilateral",
    "limited",
    "complete",
    "initial",
    "subsequent",
    "15 min",
    "per session",
    "per unit",
    "w/imaging",
)
_L2_ITEMS = (
    "Wheelchair cushion",
    "Oxygen concentrator",
    "Home health aide",
    "Personal care services",
    "Transportation services",
    "Injection drug",
    "Supply kit",
    "Ambulance mileage",
    "Behavioral health",
    "Glucose monitor",
    "Orthotic device",
    "Prosthetic socket",
    "Respite care",
    "Case management",
    "Nursing visit",
    "Crisis intervention",
    "Skills training",
    "Infusion pump",
    "Catheter",
)


@dataclass(frozen=True)
class CodeRecord:
    """One Clinical Tables / Level II record of a code (a code may have several)."""

    short_desc: str
    long_desc: str
    add_dt: str  # YYYYMMDD
    act_eff_dt: str  # YYYYMMDD
    term_dt: str  # YYYYMMDD or ""
    obsolete: bool
    is_noc: bool


@dataclass(frozen=True)
class Code:
    code: str  # canonical spelling (upper case, trimmed)
    kind: str
    short_desc: str = ""  # PPRRVU descriptor when in_pprrvu
    status: str = ""  # PPRRVU status code
    in_pprrvu: bool = False
    in_level2_file: bool = False
    in_api: bool = False
    records: tuple[CodeRecord, ...] = ()
    spellings: tuple[str, ...] = field(default=())  # raw values used in the spending file

    @property
    def resolvable(self) -> bool:
        return self.in_pprrvu or self.in_level2_file or self.in_api


@lru_cache(maxsize=1)
def real_pprrvu_rows() -> tuple[tuple[str, str, str, str], ...]:
    """``(code, modifier, description, status)`` of the real PPRRVU rows shipped in ``formats``."""
    seen: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    pkg = resources.files("medicaid_assets.formats")
    for name in ("pprrvu_sample.csv", "pfs_pprrvu2025_oct_selected_codes.csv", "pfs_pprrvu2025_oct_head70.csv"):
        lines = pkg.joinpath(name).read_text(encoding="latin-1").splitlines()
        for row in csv.reader(lines[10:]):
            if len(row) > 3 and len(row[0]) == 5:
                seen.setdefault((row[0], row[1]), (row[0], row[1], row[2], row[3]))
    return tuple(seen.values())


def _date(rng: random.Random, lo: int, hi: int) -> str:
    return f"{rng.randint(lo, hi)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def _cpt_desc(rng: random.Random) -> str:
    return f"{rng.choice(_ACTS)} {rng.choice(_BODY)} {rng.choice(_QUALS)}"[:28]


def _level2_records(rng: random.Random, code: str) -> tuple[CodeRecord, ...]:
    item = rng.choice(_L2_ITEMS)
    noc = rng.random() < 0.06
    short = (f"{item} noc" if noc else f"{item} {rng.choice(_QUALS)}")[:28]
    long = (
        f"{item}, not otherwise classified"
        if noc
        else f"{item}, {rng.choice(_QUALS)}, {rng.choice(_BODY)} related, per {rng.choice(('visit', 'unit', 'day', '15 minutes'))}"
    )
    if rng.random() < 0.3:  # long descriptions spill over continuation records in the annual file
        long += ", includes all supplies and accessories necessary for effective use, as specified by the payer's written policy"
    add = _date(rng, 1988, 2025)
    first = CodeRecord(short, long, add, add if rng.random() < 0.5 else _date(rng, int(add[:4]), 2025), "", False, noc)
    if rng.random() < 0.1:  # a second record: the NOC variant, or an earlier, terminated definition
        old = CodeRecord(
            f"{item} old def"[:28],
            f"{item}, superseded definition",
            _date(rng, 1988, 1999),
            _date(rng, 1988, 1999),
            _date(rng, 2000, 2019),
            True,
            not noc,
        )
        return (first, old)
    return (first,)


def _spellings(rng: random.Random, code: str) -> tuple[str, ...]:
    """Raw spellings: the code itself, sometimes also with stray whitespace or in lower case."""
    extra: list[str] = []
    if rng.random() < 0.03:
        extra.append(rng.choice((f" {code}", f"{code} ", f"{code}  ")))
    if rng.random() < 0.02 and code.lower() != code:
        extra.append(code.lower())
    return (code, *extra)


@lru_cache(maxsize=4)
def code_universe(spec: WorldSpec) -> tuple[Code, ...]:
    """Every distinct code of the world, most frequent first (spending draws by rank)."""
    rng = random.Random(spec.seed * 7 + 11)
    n = spec.distinct_codes
    used: set[str] = set()
    out: list[Code] = []

    def add(code: Code) -> None:
        if code.code not in used:
            used.add(code.code)
            out.append(code)

    # Real PPRRVU rows first: they include the top codes by paid amount (T1019, T1015, 99213, ...).
    for code, mod, desc, status in real_pprrvu_rows():
        if mod or code in used:
            continue
        if code[0].isalpha() and code[0] in LEVEL2_LETTERS:
            add(
                Code(
                    code,
                    "level2_pprrvu",
                    desc,
                    status,
                    True,
                    True,
                    True,
                    _level2_records(rng, code),
                    _spellings(rng, code),
                )
            )
        elif code.endswith("F"):
            add(Code(code, "cpt_cat2", desc, status, True, spellings=_spellings(rng, code)))
        else:
            add(Code(code, "cpt", desc, status, True, spellings=_spellings(rng, code)))
    for p in PLACEHOLDERS:
        add(Code(p, "placeholder", spellings=(p,)))

    def fresh(make) -> str:
        while True:
            c = make()
            if c not in used:
                return c

    budget = max(0, n - len(out))
    for kind, share in KIND_SHARES:
        for _ in range(max(1, round(budget * share))):
            if kind == "cpt_unlisted":
                c = fresh(lambda: f"{rng.randint(10021, 69990):05d}")
                add(Code(c, kind, spellings=_spellings(rng, c)))
            elif kind in ("cpt_cat2", "cpt_cat3", "pla"):
                suffix = {"cpt_cat2": "F", "cpt_cat3": "T", "pla": "U"}[kind]
                c = fresh(lambda s=suffix: f"{rng.randint(1, 999):04d}{s}")
                known = kind == "cpt_cat2" and rng.random() < 0.5
                add(
                    Code(
                        c,
                        kind,
                        _cpt_desc(rng) if known else "",
                        "I" if known else "",
                        known,
                        spellings=_spellings(rng, c),
                    )
                )
            elif kind.startswith("level2"):
                c = fresh(lambda: f"{rng.choice(LEVEL2_LETTERS)}{rng.randint(1, 9999):04d}")
                recs = _level2_records(rng, c)
                if kind == "level2_pprrvu":
                    add(
                        Code(
                            c,
                            kind,
                            recs[0].short_desc,
                            rng.choice("XIEBRA"),
                            True,
                            True,
                            True,
                            recs,
                            _spellings(rng, c),
                        )
                    )
                elif kind == "level2_file":
                    add(Code(c, kind, in_level2_file=True, in_api=True, records=recs, spellings=_spellings(rng, c)))
                elif kind == "level2_api":
                    add(Code(c, kind, in_api=True, records=recs, spellings=_spellings(rng, c)))
                else:
                    add(Code(c, kind, spellings=_spellings(rng, c)))
            elif kind == "cdt":
                c = fresh(lambda: f"D{rng.randint(100, 9999):04d}")
                add(Code(c, kind, spellings=(c,)))
            elif kind == "revenue":
                c = fresh(lambda: f"0{rng.randint(100, 999)}")
                add(Code(c, kind, spellings=(c,)))
            elif kind == "code_modifier":
                base = rng.choice([x.code for x in out if x.kind in ("cpt", "level2_pprrvu")] or ["99213"])
                c = fresh(lambda b=base: f"{b}{rng.choice(MODIFIERS)}")
                add(Code(c, kind, spellings=(c,)))
            elif kind == "word":
                c = fresh(lambda: rng.choice(WORDS) + ("" if rng.random() < 0.7 else str(rng.randint(1, 9))))
                add(Code(c, kind, spellings=(c, c.lower()) if rng.random() < 0.2 else (c,)))
            else:  # odd
                c = fresh(
                    lambda: rng.choice(
                        (
                            f"{rng.randint(100, 999)}",
                            f"{rng.randint(100000, 99999999)}",
                            f"{rng.randint(1000, 9999)}{rng.choice('ABCXYZ')}",
                            f"0{rng.choice('DFHJT')}{rng.randint(10, 99)}{rng.choice('ZZ0')}{rng.randint(10, 99)}",
                        )
                    )
                )
                add(Code(c, kind, spellings=(c,)))
    # Fill the rest of the vocabulary with CPT codes the PPRRVU file describes.
    while len(out) < n:
        c = fresh(lambda: f"{rng.randint(10021, 99499):05d}")
        add(Code(c, "cpt", _cpt_desc(rng), rng.choice("AAAAABCRTN"), True, spellings=_spellings(rng, c)))
    head, tail = out[:20], out[20:]
    rng.shuffle(tail)
    return tuple(head + tail)

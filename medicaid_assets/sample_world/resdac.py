"""The sample world's ResDAC Medicare delivery: FTS + fixed-width `.dat` pairs and early-year SAS transport files.

Layouts are copied from real File Transfer Summaries (``medicaid_assets/formats/resdac/``): the complete 185-field
MBSF A/B/C/D 2016 layout for every summary year, the real MedPAR 2011 header with its first three fields followed
by the MedPAR fields the analysis needs (names from ResDAC's MedPAR variable list, CCW lengths), a multi-part file in
the real ``name.dat (N Rows)`` form, and one MedPAR year written in the real no-short-names table format.

Early years (1999–2010) arrive as SAS files. No maintained library writes SAS7BDAT, so the world writes 2010 as SAS
transport (XPORT v8, pyreadstat) with the column names the NBER crosswalk gives for 2010 and SAS-number dates; the
SAS7BDAT reader is exercised on real SAS7BDAT files of pyreadstat's test suite (``formats/resdac/``).

Planted defects come in known counts (``summary["expected"]``): duplicated admissions, admissions without a
beneficiary or an admission date, admissions of beneficiaries not enrolled that year, DOB and sex disagreements
between years, 9-digit ZIPs (MedPAR and the 2010 denominator) and 2-digit years (the 2010 denominator).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyreadstat

from medicaid_assets.core.atomic import atomic_path
from medicaid_assets.core.fts import Field, Layout, parse_fts
from medicaid_assets.sample_world.spec import WorldSpec

FORMATS = Path(__file__).resolve().parent.parent / "formats" / "resdac"
MBSF_FTS = FORMATS / "resdac_fts_synthetic_mbsf_abcd_summary_2016.fts"
MEDPAR_FTS = FORMATS / "resdac_fts_medpar_all_file_2011_excerpt.txt"
NO_SHORT_FTS = FORMATS / "resdac_fts_bene_xwalk_noshortname.txt"
MULTI_PART_FTS = FORMATS / "resdac_fts_bcarrier_line_multifile_header.txt"

REAL_BENEFICIARIES = 60_000_000  # Medicare enrollment, the scale 1.0 size
# The world's delivery stops growing here (~100 MB per MBSF year): bigger inputs, as the benchmark's 1 GB and 5 GB
# files, ask for a beneficiary count of their own (``write_resdac_files(..., beneficiaries=n)``).
WORLD_MAX_BENEFICIARIES = 200_000
FIXED_WIDTH_YEARS = (2014, 2015, 2016)
SAS_YEAR = 2010
MULTI_PART_YEAR = 2016  # the MBSF of this year comes in two parts
NO_SHORT_NAMES_YEAR = 2015  # the MedPAR FTS of this year has no Short Name column
DIAGNOSES = 10
# (long name, short name, generic format, length): MedPAR fields after the real excerpt's first three.
MEDPAR_MORE = [
    ("BENE_SEX_CD", "SEX", "CHAR", 1),
    ("BENE_RACE_CD", "RACE", "CHAR", 1),
    ("BENE_RSDNC_SSA_STATE_CD", "STATE_CD", "CHAR", 2),
    ("BENE_RSDNC_SSA_CNTY_CD", "CNTY_CD", "CHAR", 3),
    ("BENE_MLG_CNTCT_ZIP_CD", "BENE_ZIP", "CHAR", 9),
    ("ADMSN_DAY_CD", "ADMSNDAY", "CHAR", 1),
    ("ADMSN_DT", "ADMSNDT", "DATE", 8),
    ("DSCHRG_DT", "DSCHRGDT", "DATE", 8),
    ("DGNS_CD_CNT", "DGNSCNT", "NUM", 2),
    ("ADMTG_DGNS_CD", "AD_DGNS", "CHAR", 7),
    *[(f"DGNS_{i}_CD", f"DGNS_CD{i}", "CHAR", 7) for i in range(1, DIAGNOSES + 1)],
]
# SSA state codes drawn for residences, with FIPS state codes for the MBSF's monthly state-county FIPS.
SSA_TO_FIPS = {"05": "06", "10": "12", "14": "17", "33": "36", "36": "39", "39": "42", "45": "48", "22": "25"}
ICD10 = ["I10", "E119", "J189", "N179", "I5020", "A419", "J449", "K5900", "R0602", "Z7901"]


def _bene_id(i: int) -> str:
    return f"{(i * 2_654_435_761) % 16**14:014x}{i % 10}"[-15:].upper()


def _date(d: date | None) -> str:
    return d.strftime("%Y%m%d") if d else ""


def _sas_days(d: date | None) -> float | None:
    return float((d - date(1960, 1, 1)).days) if d else None


def _spans(dashes: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"-+", dashes)]


def _row(spans: list[tuple[int, int]], cells: list[str], right: set[int]) -> str:
    out = ""
    for i, ((start, end), cell) in enumerate(zip(spans, cells, strict=True)):
        out = out.ljust(start)
        out += cell.rjust(end - start) if i in right else cell
    return out.rstrip()


def _table(text: str) -> tuple[list[str], list[tuple[int, int]], int]:
    """The heading lines + dashes of a real FTS, their spans, and the index of the dashes line."""
    lines = text.split("\n")
    dash = next(i for i, line in enumerate(lines) if re.match(r"^-+( +-+)+\s*$", line))
    return lines, _spans(lines[dash]), dash


def _with_header(text: str, parts: list[tuple[str, int]], rows: int, record_length: int, columns: int) -> str:
    """The real header with this delivery's file name(s), counts (thousands commas) and record length."""
    names = [f"{n} ({r:,} Rows)" if len(parts) > 1 else n for n, r in parts]
    text = re.sub(
        r"(Actual File Name: ).*",
        lambda m: m.group(1) + ("\n" + " " * len(m.group(1))).join(names),
        text,
        count=1,
    )
    text = re.sub(r"(Columns in File: ).*", lambda m: m.group(1) + str(columns), text, count=1)
    text = re.sub(r"(Exact File Quantity \(Rows\): ).*", lambda m: m.group(1) + f"{rows:,}", text, count=1)
    text = re.sub(
        r"(Exact File Record Length \(Bytes in Variable Block\): ).*",
        lambda m: m.group(1) + f"{record_length:,}",
        text,
        count=1,
    )
    size = rows * (record_length + 1)
    return re.sub(r"(Exact File Size in Bytes with 512 Blocksize: ).*", lambda m: m.group(1) + f"{size:,}", text)


def medpar_fts(parts: list[tuple[str, int]], short_names: bool = True) -> str:
    """The MedPAR FTS: the real header and its three real rows, then the analysis fields in the same format."""
    real = MEDPAR_FTS.read_text(encoding="latin-1")
    lines, spans, dash = _table(real)
    excerpt = parse_fts(real)
    fields = [(f.name, f.short_name or "", f.type, f.length, f.description) for f in excerpt.fields]
    fields += [(n, s, t, n_, n.replace("_", " ").title()) for n, s, t, n_ in MEDPAR_MORE]
    if short_names:
        heading = lines[: dash + 1]
        rows, start = [], 1
        for number, (name, short, type_, length, desc) in enumerate(fields, start=1):
            rows.append(_row(spans, [str(number), name, short, type_, str(start), str(length), desc], {0, 4, 5}))
            start += length
        end = next(i for i in range(dash + 1, len(lines)) if not lines[i].strip())
    else:
        no_short_lines, no_short_spans, no_short_dash = _table(NO_SHORT_FTS.read_text(encoding="latin-1"))
        first = no_short_dash
        while no_short_lines[first - 1].strip():
            first -= 1
        heading_start = dash
        while lines[heading_start - 1].strip():
            heading_start -= 1
        heading = lines[:heading_start] + no_short_lines[first : no_short_dash + 1]
        rows, start = [], 1
        for number, (name, _short, type_, length, desc) in enumerate(fields, start=1):
            rows.append(_row(no_short_spans, [str(number), name, type_, str(start), str(length), desc], {3, 4}))
            start += length
        end = next(i for i in range(dash + 1, len(lines)) if not lines[i].strip())
    text = "\n".join(heading + rows + lines[end:])
    total = sum(r for _, r in parts)
    return _with_header(text, parts, total, start - 1, len(fields))


def mbsf_fts(parts: list[tuple[str, int]]) -> str:
    real = MBSF_FTS.read_text(encoding="latin-1")
    layout = parse_fts(real)
    return _with_header(real, parts, sum(r for _, r in parts), layout.record_length, len(layout.fields))


XPORT_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
XPORT_DATA = b"HEADER RECORD*******OBS"


def _fixed_stamps(xport: bytes) -> bytes:
    """The XPORT headers' creation and modification times set to one fixed time: a spec gives the same bytes."""
    end = xport.index(XPORT_DATA)
    return XPORT_STAMP.sub(b"01JAN11:00:00:00", xport[:end]) + xport[end:]


class _Writer:
    """Fixed-width records of a layout: a blank template with named fields spliced in."""

    def __init__(self, layout: Layout) -> None:
        self.template = bytearray(b" " * layout.record_length)
        self.fields: dict[str, Field] = {f.name: f for f in layout.fields}
        for f in layout.fields:
            if f.type == "NUM":
                self.template[f.start - 1 : f.start - 1 + f.length] = b"0".rjust(f.length)

    def line(self, values: dict[str, str]) -> bytes:
        record = bytearray(self.template)
        for name, value in values.items():
            f = self.fields[name]
            cell = value.rjust(f.length) if f.type == "NUM" else value.ljust(f.length)
            record[f.start - 1 : f.start - 1 + f.length] = cell[: f.length].encode("latin-1")
        record += b"\n"
        return bytes(record)


def beneficiary_count(spec: WorldSpec) -> int:
    return min(WORLD_MAX_BENEFICIARIES, max(300, round(REAL_BENEFICIARIES * spec.scale)))


def write_resdac_files(spec: WorldSpec, out: Path, beneficiaries: int | None = None) -> dict:
    """Write the delivery under ``out/<family>/<year>/`` and return what was planted, with expected counts.

    ``beneficiaries`` overrides the count the scale gives (an MBSF year is ~530 bytes per beneficiary).
    """
    rng = np.random.default_rng([spec.seed, 16])
    n = beneficiaries or beneficiary_count(spec)
    years = (SAS_YEAR, *FIXED_WIDTH_YEARS)
    ssa = list(SSA_TO_FIPS)
    states = rng.choice(len(ssa), n)
    dobs = [date(1925, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 365 * 30, n)]
    sexes = rng.choice(["1", "2"], n)
    races = rng.choice(["1", "2", "4", "5"], n, p=[0.8, 0.1, 0.05, 0.05])
    # Enrolment: every beneficiary from a first year on; some die in a year and are absent afterwards.
    first = rng.choice(len(years), n, p=[0.7, 0.1, 0.1, 0.1])
    death_year = np.where(rng.random(n) < 0.08, rng.integers(0, len(years), n), len(years))
    death_year = np.maximum(death_year, first)
    enrolled = {y: [i for i in range(n) if first[i] <= k <= death_year[i]] for k, y in enumerate(years)}
    in_year = {y: set(v) for y, v in enrolled.items()}

    def years_enrolled(i: int) -> int:
        return sum(i in in_year[y] for y in years)

    dods = {
        i: date(years[death_year[i]], 1, 1) + timedelta(days=int(rng.integers(0, 360)))
        for i in range(n)
        if death_year[i] < len(years)
    }
    dob_flip = set(rng.choice(n, max(3, n // 100), replace=False).tolist())
    sex_flip = set(rng.choice(n, max(3, n // 150), replace=False).tolist())
    movers = set(rng.choice(enrolled[2015], max(2, n // 200), replace=False).tolist())
    expected = {"duplicate": 0, "primary_key": 0, "foreign_key": 0, "admissions": 0, "admission_rows": 0}
    expected["summary_rows"] = 0
    # A disagreement shows only for a beneficiary seen in the flipped year and in another one.
    expected["dob_disagreements"] = sum(1 for i in dob_flip if i in in_year[2015] and years_enrolled(i) > 1)
    expected["sex_disagreements"] = sum(1 for i in sex_flip if i in in_year[2016] and years_enrolled(i) > 1)
    files: dict[str, list[str]] = {}

    def summary_rows(year: int) -> list[dict]:
        rows = []
        for i in enrolled[year]:
            dob = dobs[i] + timedelta(days=400) if i in dob_flip and year == 2015 else dobs[i]
            sex = ("2" if sexes[i] == "1" else "1") if i in sex_flip and year == 2016 else str(sexes[i])
            dod = dods.get(i) if death_year[i] == years.index(year) else None
            row = {"i": i, "state": ssa[states[i]], "county": f"{(i % 90) + 10:03d}", "dob": dob, "dod": dod}
            row |= {"sex": sex, "race": str(races[i]), "zip": f"{10000 + (i * 37) % 89999:05d}", "hmo": i % 13}
            rows.append(row)
            if i in movers and year == 2015:
                rows.append(row | {"state": ssa[(states[i] + 1) % len(ssa)], "county": "001"})
        return rows

    def admissions(year: int) -> list[dict]:
        """Valid stays of enrolled beneficiaries, then the planted defects (counted in ``expected``)."""
        pool = enrolled[year]
        picks = rng.choice(pool, max(20, len(pool) // 5), replace=False)
        stays = []
        for k, i in enumerate(picks.tolist()):
            admit = date(year, 1, 1) + timedelta(days=int(rng.integers(0, 300)))
            stays.append({"i": i, "bene": _bene_id(i), "admit": admit, "discharge": admit + timedelta(days=k % 9)})
        expected["admissions"] += len(stays)
        dups = [dict(s) for s in stays[: max(2, len(stays) // 40)]]
        missing = [dict(s, bene="") for s in stays[-max(1, len(stays) // 80) :]]
        missing += [dict(s, admit=None) for s in stays[-2 * max(1, len(stays) // 80) : -max(1, len(stays) // 80)]]
        outsiders = [i for i in range(n) if i not in in_year[year]][: max(2, len(stays) // 50)]
        foreign = [
            {"i": i, "bene": _bene_id(i), "admit": date(year, 6, 1), "discharge": date(year, 6, 3)} for i in outsiders
        ]
        expected["duplicate"] += len(dups)
        expected["primary_key"] += len(missing)
        expected["foreign_key"] += len(foreign)
        expected["admission_rows"] += len(stays) + len(dups) + len(missing) + len(foreign)
        return stays + dups + missing + foreign

    def diagnoses(k: int) -> list[str]:
        return [ICD10[(k + j) % len(ICD10)] for j in range(1 + k % 4)]

    for year in FIXED_WIDTH_YEARS:
        base = out / "mbsf" / str(year)
        base.mkdir(parents=True, exist_ok=True)
        layout = parse_fts(MBSF_FTS.read_text(encoding="latin-1"))
        writer = _Writer(layout)
        rows = summary_rows(year)
        expected["summary_rows"] += len(rows)
        lines = []
        for r in rows:
            fips = SSA_TO_FIPS[r["state"]] + r["county"]
            values = {
                "BENE_ID": _bene_id(r["i"]),
                "BENE_ENROLLMT_REF_YR": str(year),
                "STATE_CODE": r["state"],
                "COUNTY_CD": r["county"],
                "ZIP_CD": r["zip"],
                "BENE_BIRTH_DT": _date(r["dob"]),
                "BENE_DEATH_DT": _date(r["dod"]),
                "VALID_DEATH_DT_SW": "V" if r["dod"] else "",
                "SEX_IDENT_CD": r["sex"],
                "BENE_RACE_CD": r["race"],
                "RTI_RACE_CD": r["race"],
                "BENE_HMO_CVRAGE_TOT_MONS": str(r["hmo"]),
                "STATE_CNTY_FIPS_CD_12": fips,
            }
            lines.append(writer.line(values))
        stem = f"mbsf_abcd_summary_res000000000_req000000_{year}"
        if year == MULTI_PART_YEAR:
            half = len(lines) // 2
            chunks = [(f"{stem}_001.dat", lines[:half]), (f"{stem}_002.dat", lines[half:])]
        else:
            chunks = [(f"{stem}.dat", lines)]
        for name, chunk in chunks:
            with atomic_path(base / name) as tmp:
                tmp.write_bytes(b"".join(chunk))
        fts = mbsf_fts([(name, len(chunk)) for name, chunk in chunks])
        with atomic_path(base / f"{stem}.fts") as tmp:
            tmp.write_text(fts, encoding="latin-1")
        files[f"mbsf/{year}"] = [f"{stem}.fts", *(name for name, _ in chunks)]

        base = out / "medpar" / str(year)
        base.mkdir(parents=True, exist_ok=True)
        stays = admissions(year)
        stem = f"medpar_all_file_res000000000_req000000_{year}"
        fts = medpar_fts([(f"{stem}.dat", len(stays))], short_names=year != NO_SHORT_NAMES_YEAR)
        writer = _Writer(parse_fts(fts))
        lines = []
        for k, s in enumerate(stays):
            i = s["i"]
            codes = diagnoses(k)
            values = {
                "BENE_ID": s["bene"],
                "MEDPAR_ID": f"M{year}{k:010d}",
                "MEDPAR_YR_NUM": str(year),
                "BENE_SEX_CD": str(sexes[i]),
                "BENE_RACE_CD": str(races[i]),
                "BENE_RSDNC_SSA_STATE_CD": ssa[states[i]],
                "BENE_RSDNC_SSA_CNTY_CD": f"{(i % 90) + 10:03d}",
                "BENE_MLG_CNTCT_ZIP_CD": f"{10000 + (i * 37) % 89999:05d}{i % 10000:04d}",
                "ADMSN_DAY_CD": str(s["admit"].isoweekday() % 7 + 1) if s["admit"] else "",
                "ADMSN_DT": _date(s["admit"]),
                "DSCHRG_DT": _date(s["discharge"]),
                "DGNS_CD_CNT": str(len(codes)),
                "ADMTG_DGNS_CD": codes[0],
                **{f"DGNS_{j + 1}_CD": c for j, c in enumerate(codes)},
            }
            lines.append(writer.line(values))
        with atomic_path(base / f"{stem}.dat") as tmp:
            tmp.write_bytes(b"".join(lines))
        with atomic_path(base / f"{stem}.fts") as tmp:
            tmp.write_text(fts, encoding="latin-1")
        files[f"medpar/{year}"] = [f"{stem}.fts", f"{stem}.dat"]

    # 2010: SAS transport files with the 2010 column names, 2-digit years and 9-digit ZIPs, SAS-number dates.
    rows = summary_rows(SAS_YEAR)
    expected["summary_rows"] += len(rows)
    expected["two_digit_years"] = len(rows)
    denominator = pl.DataFrame(
        {
            "bene_id": [_bene_id(r["i"]) for r in rows],
            "enrolyr": [float(SAS_YEAR % 100)] * len(rows),
            "state_cd": [r["state"] for r in rows],
            "cnty_cd": [r["county"] for r in rows],
            "bene_zip": [r["zip"] + f"{r['i'] % 10000:04d}" for r in rows],
            "bene_dob": [_sas_days(r["dob"]) for r in rows],
            "death_dt": [_sas_days(r["dod"]) for r in rows],
            "sex": [r["sex"] for r in rows],
            "race": [r["race"] for r in rows],
            "rti_race_cd": [r["race"] for r in rows],
            "hmo_mo": [float(r["hmo"]) for r in rows],
        },
        schema_overrides={"bene_dob": pl.Float64, "death_dt": pl.Float64},
    )
    stays = admissions(SAS_YEAR)
    inpatient = pl.DataFrame(
        {
            "bene_id": [s["bene"] for s in stays],
            "sex": [str(sexes[s["i"]]) for s in stays],
            "race": [str(races[s["i"]]) for s in stays],
            "state_cd": [ssa[states[s["i"]]] for s in stays],
            "bene_zip": [f"{10000 + (s['i'] * 37) % 89999:05d}{s['i'] % 10000:04d}" for s in stays],
            "admsndt": [_sas_days(s["admit"]) for s in stays],
            "dschrgdt": [_sas_days(s["discharge"]) for s in stays],
            **{f"dgnscd{j}": [(diagnoses(k) + [""] * 5)[j - 1] for k in range(len(stays))] for j in range(1, 6)},
        },
        schema_overrides={"admsndt": pl.Float64, "dschrgdt": pl.Float64},
    )
    for family, frame in (("denominator", denominator), ("inpatient", inpatient)):
        base = out / family / str(SAS_YEAR)
        base.mkdir(parents=True, exist_ok=True)
        name = f"{family}_{SAS_YEAR}.xpt"
        with atomic_path(base / name) as tmp:
            pyreadstat.write_xport(frame, str(tmp), file_format_version=8, table_name=family[:8].upper())
            tmp.write_bytes(_fixed_stamps(tmp.read_bytes()))
        files[f"{family}/{SAS_YEAR}"] = [name]
    # The 2010 denominator's ZIPs and every admission's (MedPAR's mailing ZIP is 9 digits).
    expected["nine_digit_zips"] = len(rows) + expected["admission_rows"]
    expected["beneficiaries"] = len({i for y in years for i in enrolled[y]})
    expected["movers"] = len(movers)
    return {"beneficiaries": n, "years": list(years), "files": files, "expected": expected}


def write_large_mbsf(spec: WorldSpec, out: Path, target_bytes: int) -> tuple[Path, int]:
    """An MBSF FTS + ``.dat`` of about ``target_bytes`` (the benchmark's 1 GB and 5 GB inputs), in bounded memory:
    one year of a small delivery written again and again. Returns the FTS and its row count."""
    small = out / "small"
    write_resdac_files(spec, small, beneficiaries=20_000)
    block = next((small / "mbsf" / "2015").glob("*.dat")).read_bytes()
    line = block.index(b"\n") + 1
    repeats = max(1, target_bytes // len(block))
    base = out / "mbsf" / "2015"
    base.mkdir(parents=True, exist_ok=True)
    stem = "mbsf_abcd_summary_res000000000_req000000_2015"
    with atomic_path(base / f"{stem}.dat") as tmp, tmp.open("wb") as handle:
        for _ in range(repeats):
            handle.write(block)
    rows = repeats * (len(block) // line)
    with atomic_path(base / f"{stem}.fts") as tmp:
        tmp.write_text(mbsf_fts([(f"{stem}.dat", rows)]), encoding="latin-1")
    return base / f"{stem}.fts", rows

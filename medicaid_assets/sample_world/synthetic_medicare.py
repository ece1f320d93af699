"""The CMS synthetic Medicare release's three downloads, at any scale, from the real headers and value shapes.

``All Beneficiary Years.zip`` (``beneficiary_2015.csv`` … ``beneficiary_2025.csv``, the public release's
185-column pipe header), ``All FFS Claims.zip`` (the seven claim files) and ``pde.csv``. Claim and PDE layouts are
the BFD RIF samples' headers without their leading ``DML_IND`` (the public release's spelling). Every row starts
from a real row of ``formats/`` (so codes, blanks and ``NA`` look as they do in the release) and takes the world's
ids, dates, amounts and diagnoses. Claim files hold one row per line with the header fields repeated, as the real
ones do. Planted, of known size: one carrier provider (:data:`OUTLIER_NPI`) bills :data:`OUTLIER_FACTOR` times its
peers' claims at :data:`OUTLIER_FACTOR` times their payment. Rows are written as they are made (bounded memory).
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import disk_path
from medicaid_assets.settings import (
    DEFAULT_SYNTHETIC_MEDICARE_BENEFICIARY_URL,
    DEFAULT_SYNTHETIC_MEDICARE_CLAIMS_URL,
    DEFAULT_SYNTHETIC_MEDICARE_PDE_URL,
)

FORMATS = Path(__file__).resolve().parent.parent / "formats"
BENEFICIARY_SAMPLE = "synth_pub_beneficiary_2019_head21.csv"
CLAIM_SAMPLES = {
    "carrier": "synth_rif_carrier_head13.csv",
    "inpatient": "synth_rif_inpatient.csv",
    "outpatient": "synth_rif_outpatient.csv",
    "dme": "synth_rif_dme.csv",
    "hha": "synth_rif_hha.csv",
    "hospice": "synth_rif_hospice.csv",
    "snf": "synth_rif_snf_head13.csv",
}
PDE_SAMPLE = "synth_rif_pde.csv"
YEARS = range(2015, 2026)
REAL_BENEFICIARIES = 10_000  # lines per yearly file of the real release: 5,976-10,001

# Claims per beneficiary-year and lines per claim (low, high) by type: the synthetic release's skew (carrier a
# small share of claims, SNF claims with very many lines), kept small enough for a test world.
CLAIMS_PER_YEAR = {"carrier": 3, "inpatient": 1, "outpatient": 3, "dme": 1, "hha": 1, "hospice": 1, "snf": 1}
CLAIM_SHARE = {
    "carrier": 1.0,
    "inpatient": 0.3,
    "outpatient": 0.9,
    "dme": 0.2,
    "hha": 0.15,
    "hospice": 0.05,
    "snf": 0.1,
}
LINES = {"carrier": (1, 3), "inpatient": (3, 8), "outpatient": (2, 5), "dme": (1, 2), "hha": (3, 6)}
LINES |= {"hospice": (2, 5), "snf": (10, 30)}
PAYMENT = {"carrier": 120.0, "inpatient": 12_000.0, "outpatient": 400.0, "dme": 250.0, "hha": 2_500.0}
PAYMENT |= {"hospice": 6_000.0, "snf": 9_000.0}
PROVIDER_COLUMN = {"carrier": "CARR_CLM_BLG_NPI_NUM", "dme": "PRVDR_NPI"}  # others: ORG_NPI_NUM
LINE_COLUMN = {"carrier": "LINE_NUM", "dme": "LINE_NUM"}  # others: CLM_LINE_NUM
LINE_PAYMENT = {"carrier": "LINE_NCH_PMT_AMT", "dme": "LINE_NCH_PMT_AMT"}  # others: REV_CNTR_PMT_AMT_AMT
PROVIDERS_PER_TYPE = 12
OUTLIER_NPI = "9999000001"
OUTLIER_FACTOR = 8
DIABETES_SHARE = 0.25
DIABETES_CODES = ("E119", "E1165", "E1122")
OTHER_CODES = ("I10", "J449", "M545", "Z0000", "K219", "N390", "F329", "R0602")
STATES = (("01", "1500", "36109"), ("05", "05020", "02139"), ("22", "22090", "01730"), ("33", "33600", "10001"))
STATES += (("45", "45040", "75001"), ("10", "10390", "33101"))
DRUGS = (("50090443201", "G"), ("43353005030", "G"), ("00006027731", "B"), ("00169413212", "B"), ("68180051301", "G"))
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rif_date(day: date) -> str:
    """``14-Aug-1990``: the release's date spelling (month names in English whatever the locale)."""
    return f"{day.day:02d}-{MONTH_NAMES[day.month - 1]}-{day.year}"


def sample_layout(name: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header (BOM and ``DML_IND`` dropped) and rows of a real sample in ``formats/``."""
    lines = (FORMATS / name).read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split("|")
    rows = [dict(zip(header, line.split("|"), strict=True)) for line in lines[1:] if line]
    if header[0] == "DML_IND":
        header = header[1:]
    return header, rows


@dataclass(frozen=True)
class Beneficiary:
    bene_id: int
    state: tuple[str, str, str]
    birth: date
    sex: str
    race: str
    diabetic: bool


def synthetic_beneficiaries(spec: WorldSpec) -> int:
    """Beneficiaries in each yearly file of ``spec``'s world (scale 1.0 = the real ~10,000)."""
    return max(40, round(REAL_BENEFICIARIES * spec.scale))


def _beneficiaries(rng: random.Random, count: int) -> list[Beneficiary]:
    people = []
    for i in range(count):
        birth = date(1925 + rng.randrange(60), 1 + rng.randrange(12), 1 + rng.randrange(28))
        people.append(
            Beneficiary(
                bene_id=-10000010000000 - i,
                state=STATES[i % len(STATES)],
                birth=birth,
                sex=rng.choice("12"),
                race=rng.choice("12345"),
                diabetic=rng.random() < DIABETES_SHARE,
            )
        )
    return people


def _beneficiary_rows(people: list[Beneficiary], year: int, template: list[dict[str, str]]) -> Iterator[dict]:
    for i, person in enumerate(people):
        row = dict(template[i % len(template)])
        state, county, zip_code = person.state
        row |= {
            "BENE_ID": str(person.bene_id),
            "STATE_CODE": state,
            "COUNTY_CD": county,
            "ZIP_CD": zip_code,
            "BENE_BIRTH_DT": rif_date(person.birth),
            "SEX_IDENT_CD": person.sex,
            "BENE_RACE_CD": person.race,
            "BENE_DEATH_DT": "",
            "BENE_ENROLLMT_REF_YR": str(year),
            "AGE_AT_END_REF_YR": str(year - person.birth.year),
        }
        yield row


def _npis(claim_type: str) -> list[str]:
    base = 9_999_100_000 + 1_000 * list(CLAIM_SAMPLES).index(claim_type)
    return [str(base + k) for k in range(PROVIDERS_PER_TYPE)]


def _claim_rows(
    rng: random.Random, people: list[Beneficiary], claim_type: str, template: list[dict[str, str]], ids: Iterator[int]
) -> Iterator[dict]:
    """One row per line; header fields (ids, dates, payment, diagnoses, provider) repeated on every line."""
    npis = _npis(claim_type)
    for person_index, person in enumerate(people):
        for year in YEARS:
            if rng.random() >= CLAIM_SHARE[claim_type]:
                continue
            for _ in range(1 + rng.randrange(CLAIMS_PER_YEAR[claim_type])):
                yield from _one_claim(rng, person, year, claim_type, template, npis[person_index % len(npis)], ids)
                if claim_type == "carrier" and person_index % len(npis) == 0:  # the outlier bills on top
                    for _ in range(OUTLIER_FACTOR - 1):
                        yield from _one_claim(rng, person, year, claim_type, template, OUTLIER_NPI, ids)


def _one_claim(
    rng: random.Random,
    person: Beneficiary,
    year: int,
    claim_type: str,
    template: list[dict[str, str]],
    npi: str,
    ids: Iterator[int],
) -> Iterator[dict]:
    low, high = LINES[claim_type]
    lines = rng.randint(low, high)
    start = date(year, 1, 1) + timedelta(days=rng.randrange(358))
    thru = start + timedelta(days=rng.randrange(7) if claim_type != "carrier" else 0)
    factor = OUTLIER_FACTOR if npi == OUTLIER_NPI else 1
    per_line = round(PAYMENT[claim_type] * factor * rng.uniform(0.6, 1.4) / lines, 2)
    payment = round(per_line * lines, 2)
    diagnosis = rng.choice(DIABETES_CODES) if person.diabetic and rng.random() < 0.7 else rng.choice(OTHER_CODES)
    claim_id = next(ids)
    header = {
        "BENE_ID": str(person.bene_id),
        "CLM_ID": str(claim_id),
        "CLM_GRP_ID": str(claim_id - 7),
        "CLM_FROM_DT": rif_date(start),
        "CLM_THRU_DT": rif_date(thru),
        "CLM_PMT_AMT": f"{payment:.2f}",
        "PRNCPAL_DGNS_CD": diagnosis,
        "ICD_DGNS_CD1": diagnosis,
        PROVIDER_COLUMN.get(claim_type, "ORG_NPI_NUM"): npi,
        "PRVDR_STATE_CD": person.state[0],
    }
    for line in range(1, lines + 1):
        row = dict(template[line % len(template)])
        row |= header
        row[LINE_COLUMN.get(claim_type, "CLM_LINE_NUM")] = str(line)
        row[LINE_PAYMENT.get(claim_type, "REV_CNTR_PMT_AMT_AMT")] = f"{per_line:.2f}"
        yield row


def _pde_rows(rng: random.Random, people: list[Beneficiary], template: list[dict[str, str]]) -> Iterator[dict]:
    pde_id = -200000000
    for person in people:
        for year in YEARS:
            for _ in range(rng.randrange(4) + (2 if person.diabetic else 0)):
                pde_id -= 1
                drug, brand = rng.choice(DRUGS)
                day = date(year, 1, 1) + timedelta(days=rng.randrange(365))
                cost = rng.uniform(200, 600) if brand == "B" else rng.uniform(5, 60)
                row = dict(template[pde_id % len(template)])
                row |= {
                    "PDE_ID": str(pde_id),
                    "CLM_GRP_ID": str(pde_id - 3),
                    "BENE_ID": str(person.bene_id),
                    "SRVC_DT": rif_date(day),
                    "PD_DT": rif_date(day),
                    "PROD_SRVC_ID": drug,
                    "BRND_GNRC_CD": brand,
                    "QTY_DSPNSD_NUM": str(rng.choice((30, 60, 90))),
                    "DAYS_SUPLY_NUM": str(rng.choice((30, 90))),
                    "TOT_RX_CST_AMT": f"{cost:.2f}",
                }
                yield row


def write_rows(out: io.TextIOBase, header: list[str], rows: Iterator[dict]) -> int:
    """Pipe-delimited lines; values the world does not set keep the real row's (blanks and ``NA`` included)."""
    out.write("|".join(header) + "\n")
    count = 0
    for row in rows:
        out.write("|".join(row.get(name, "") for name in header) + "\n")
        count += 1
    return count


def _path_for(files_dir: Path, url: str) -> Path:
    path = files_dir / unquote(str(disk_path(url)))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_synthetic_medicare_files(
    spec: WorldSpec, files_dir: Path, beneficiaries: int | None = None, urls: dict[str, str] | None = None
) -> dict[str, Any]:
    """Write the three downloads under ``files_dir`` (at their real URLs' disk paths) and summarise them.

    ``beneficiaries`` overrides the spec's size (the benchmark's 10× world); ``urls`` the three real URLs.
    """
    urls = urls or {
        "beneficiary": DEFAULT_SYNTHETIC_MEDICARE_BENEFICIARY_URL,
        "claims": DEFAULT_SYNTHETIC_MEDICARE_CLAIMS_URL,
        "pde": DEFAULT_SYNTHETIC_MEDICARE_PDE_URL,
    }
    rng = random.Random(spec.seed * 31 + 17)
    people = _beneficiaries(rng, beneficiaries or synthetic_beneficiaries(spec))
    rows: dict[str, int] = {}
    header, template = sample_layout(BENEFICIARY_SAMPLE)
    with zipfile.ZipFile(_path_for(files_dir, urls["beneficiary"]), "w", zipfile.ZIP_DEFLATED) as zf:
        for year in YEARS:
            with zf.open(f"beneficiary_{year}.csv", "w") as raw, io.TextIOWrapper(raw, "utf-8", newline="") as out:
                rows[f"beneficiary_{year}"] = write_rows(out, header, _beneficiary_rows(people, year, template))
    ids = iter(range(-100000000, -(10**12), -1))
    with zipfile.ZipFile(_path_for(files_dir, urls["claims"]), "w", zipfile.ZIP_DEFLATED) as zf:
        for claim_type, sample in CLAIM_SAMPLES.items():
            header, template = sample_layout(sample)
            with zf.open(f"{claim_type}.csv", "w") as raw, io.TextIOWrapper(raw, "utf-8", newline="") as out:
                rows[claim_type] = write_rows(out, header, _claim_rows(rng, people, claim_type, template, ids))
    header, template = sample_layout(PDE_SAMPLE)
    with _path_for(files_dir, urls["pde"]).open("w", encoding="utf-8", newline="") as out:
        rows["pde"] = write_rows(out, header, _pde_rows(rng, people, template))
    return {
        "beneficiaries": len(people),
        "diabetic_beneficiaries": sum(p.diabetic for p in people),
        "rows": rows,
        "outlier_npi": OUTLIER_NPI,
        "outlier_factor": OUTLIER_FACTOR,
    }

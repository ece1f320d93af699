"""The sample world's HHS Medicaid Provider Spending parquet: the real schema, sizes and quirks.

Two releases are written: the Feb-2026 file (``TOTAL_UNIQUE_BENEFICIARIES``/``TOTAL_CLAIMS``, date
months) and a later one with renamed columns and ``YYYY-MM`` months, so the pipeline's alias mapping
is exercised. Rows are drawn in chunks from per-chunk numpy generators and written one row group per
chunk: a full-size world streams in bounded memory, and the same spec gives byte-identical files.

Every row picks an NPI or a code by rank from a Zipf-like law; each chunk also places its share of
the pool at random rows, so every NPI and every code spelling of the world appears at least once
whenever the file has rows enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from medicaid_assets.core.npi import is_valid_npi, make_npi
from medicaid_assets.sample_world.code_universe import code_universe
from medicaid_assets.sample_world.providers import current_provider, index_for_npi, npi_for_index
from medicaid_assets.sample_world.spec import WorldSpec
from medicaid_assets.sample_world.urls import SPENDING_V2_URL, disk_path
from medicaid_assets.settings import DEFAULT_SPENDING_URL

SCHEMA = pa.schema(
    [
        ("BILLING_PROVIDER_NPI_NUM", pa.string()),
        ("SERVICING_PROVIDER_NPI_NUM", pa.string()),
        ("HCPCS_CODE", pa.string()),
        ("CLAIM_FROM_MONTH", pa.date32()),
        ("TOTAL_UNIQUE_BENEFICIARIES", pa.int64()),
        ("TOTAL_CLAIMS", pa.int64()),
        ("TOTAL_PAID", pa.float64()),
    ]
)
SCHEMA_V2 = pa.schema(
    [
        ("BILLING_PROVIDER_NPI_NUM", pa.string()),
        ("SERVICING_PROVIDER_NPI_NUM", pa.string()),
        ("HCPCS_CODE", pa.string()),
        ("CLAIM_FROM_MONTH", pa.string()),
        ("TOTAL_PATIENTS", pa.int64()),
        ("TOTAL_CLAIM_LINES", pa.int64()),
        ("TOTAL_PAID", pa.float64()),
    ]
)

CHUNK_ROWS = 1_000_000  # rows per generated chunk, and so per row group
# Pinned so the bytes depend on the spec and the numpy and pyarrow versions only.
WRITER_OPTIONS: dict[str, Any] = {
    "compression": "snappy",
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "data_page_size": 1 << 20,
    "write_page_index": False,
    "store_schema": True,
}

MONTHS: tuple[date, ...] = tuple(date(2018 + m // 12, m % 12 + 1, 1) for m in range(84))  # 2018-01 .. 2024-12
_MONTH_CDF = np.cumsum(np.linspace(1.0, 1.8, len(MONTHS)))  # volume grows over the years
_MONTH_CDF /= _MONTH_CDF[-1]
_MONTH_DATES = pa.array(MONTHS, pa.date32())
_MONTH_TEXT = pa.array([f"{d:%Y-%m}" for d in MONTHS], pa.string())

# Shares of the Feb-2026 release (design notes, section 2).
MIN_CLAIMS = 12  # cell suppression: fewer claims are never published
BLANK_SERVICING = 0.042
SELF_BILLED = 0.307
ZERO_PAID = 0.156
NEGATIVE_PAID = 0.00004
# Roles of the distinct valid NPIs (617,503 billing, 1,627,362 servicing, 1,802,136 in all).
BOTH_ROLES = 0.246
BILLING_ONLY = 0.097
JUNK_NPIS = 0.01  # junk values on top of the valid ones, as a share of them

# Zipf exponents by rank: billing NPIs are fewer and more concentrated than servicing ones.
BILLING_ZIPF = 1.1
SERVICING_ZIPF = 0.8
CODE_ZIPF = 1.2
ALT_SPELLINGS = 0.1  # share of a code's rows spelled with stray whitespace or in lower case

JUNK_FIXED = ("0000000000", "N/A")
JUNK_SHAPES = ("non_numeric", "short", "long", "bad_check")

# Stream ids for the generators, so no two draws share a stream.
_POOL_STREAM, _CODE_STREAM, _MAIN_STREAM, _V2_STREAM = 1, 2, 3, 4


def _rng(spec: WorldSpec, *stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([spec.seed % 2**64, *stream]))


def _junk_value(shape: str, body: int, spin: int) -> str:
    if shape == "non_numeric":
        return (f"ABC{body % 10**7:07d}", f"{body // 10**5:04d}-{body % 10**5:05d}", f"{body}X", "UNKNOWN")[spin % 4]
    if shape == "short":
        return str(body)
    if shape == "long":
        return f"{body}{spin % 100:02d}"
    npi = make_npi(body)  # bad_check: a valid NPI with its check digit moved off
    return npi[:9] + str((int(npi[9]) + 1 + spin % 9) % 10)


def _junk_npis(rng: np.random.Generator, count: int) -> list[str]:
    """Junk the real file carries: all zeros, non-numeric, 9 or 11 digits, 10 digits with a bad check digit."""
    out = dict.fromkeys(JUNK_FIXED)
    k = 0
    while len(out) < count:
        body, spin = int(rng.integers(100_000_000, 300_000_000)), int(rng.integers(1000))
        out.setdefault(_junk_value(JUNK_SHAPES[k % len(JUNK_SHAPES)], body, spin))
        k += 1
    return list(out)


@lru_cache(maxsize=4)
def dataset_npi_pool(spec: WorldSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(billing, servicing)``: every NPI value the world's spending file uses, most frequent first.

    ``spec.dataset_npis`` valid NPIs: all of the weekly-new, API-only and unknown ranges, the rest a
    uniform sample of the registered range (so about 3.5% deactivated). A quarter of them bill and
    serve, a tenth only bill; junk values (``JUNK_NPIS`` of them) sit at the tail of both lists.
    """
    rng = _rng(spec, _POOL_STREAM)
    special = np.array([*spec.range_weekly_new(), *spec.range_api_only(), *spec.range_unknown()], dtype=np.int64)
    n_registered = min(spec.registered, max(0, spec.dataset_npis - len(special)))
    indices = np.concatenate([rng.choice(spec.registered, size=n_registered, replace=False), special])
    rng.shuffle(indices)
    npis = [npi_for_index(spec, int(i)) for i in indices]
    n_both = max(1, round(len(npis) * BOTH_ROLES))
    n_billing = n_both + max(1, round(len(npis) * BILLING_ONLY))
    billing, servicing = npis[:n_billing], npis[:n_both] + npis[n_billing:]
    rng.shuffle(billing)
    rng.shuffle(servicing)
    junk = _junk_npis(rng, max(len(JUNK_FIXED) + len(JUNK_SHAPES), round(len(npis) * JUNK_NPIS)))
    return tuple(billing + junk[::3]), tuple(servicing + [v for k, v in enumerate(junk) if k % 3])


# A planted screening outlier: one busy, active, registered billing provider is paid this many times the world's
# prices on every row, so the marts' screening table has a known provider to flag (and peers that stay unflagged).
OUTLIER_FACTOR = 6.0
OUTLIER_MIN_RANK = 2  # the most frequent billers dominate their peer groups' medians; start a little lower


def planted_outlier(spec: WorldSpec) -> tuple[int, str]:
    """(billing rank, NPI) of the planted outlier: the first registered, never deactivated NPI from rank 2 on."""
    billing, _ = dataset_npi_pool(spec)
    for rank in range(OUTLIER_MIN_RANK, len(billing)):
        index = index_for_npi(spec, billing[rank])
        if index is None or index not in spec.range_registered():
            continue
        provider = current_provider(spec, index)
        if (
            provider is not None
            and not provider.deactivated
            and provider.location
            and provider.location.country == "US"
        ):
            return rank, billing[rank]
    raise ValueError("no registered, active billing NPI to plant as an outlier")


def _zipf_cdf(n: int, exponent: float) -> np.ndarray:
    cdf = np.cumsum(1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent)
    return cdf / cdf[-1]


@dataclass(frozen=True)
class _Tables:
    """What every chunk draws from: string pools as arrow arrays, ranks as numpy arrays."""

    npis: pa.Array  # every distinct NPI value
    billing: np.ndarray  # position in ``npis`` by billing rank
    servicing: np.ndarray  # position in ``npis`` by servicing rank
    billing_cdf: np.ndarray
    servicing_cdf: np.ndarray
    also_serves: np.ndarray  # by billing rank: the NPI is a servicing one too (may bill itself)
    self_rate: float  # P(self-billed | billing NPI also serves), for SELF_BILLED overall
    junk: np.ndarray  # by position in ``npis``
    spellings: pa.Array  # every raw HCPCS_CODE value
    code_of: np.ndarray  # by spelling: rank of its code in the universe
    code_cdf: np.ndarray  # over spellings
    log_price: np.ndarray  # by spelling: mean log unit price of its code
    outlier_rank: int  # billing rank of the planted outlier


def _tables(spec: WorldSpec) -> _Tables:
    """Build the pools once per world; chunks then only index into them."""
    billing, servicing = dataset_npi_pool(spec)
    values = list(dict.fromkeys(billing + servicing))
    position = {v: i for i, v in enumerate(values)}
    billing_ids = np.array([position[v] for v in billing], dtype=np.int64)
    servicing_ids = np.array([position[v] for v in servicing], dtype=np.int64)
    serves = np.zeros(len(values), dtype=bool)
    serves[servicing_ids] = True
    billing_cdf = _zipf_cdf(len(billing), BILLING_ZIPF)
    also_serves = serves[billing_ids]
    eligible = float(np.diff(billing_cdf, prepend=0.0)[also_serves].sum())

    spellings: list[str] = []
    code_of: list[int] = []
    weight: list[float] = []
    for rank, code in enumerate(code_universe(spec)):
        base = 1.0 / (rank + 1) ** CODE_ZIPF
        alternates = len(code.spellings) - 1
        for k, spelling in enumerate(code.spellings):
            spellings.append(spelling)
            code_of.append(rank)
            share = 1.0 if not alternates else (1 - ALT_SPELLINGS if k == 0 else ALT_SPELLINGS / alternates)
            weight.append(base * share)
    code_cdf = np.cumsum(weight)
    code_of_arr = np.array(code_of, dtype=np.int64)
    return _Tables(
        npis=pa.array(values, pa.string()),
        billing=billing_ids,
        servicing=servicing_ids,
        billing_cdf=billing_cdf,
        servicing_cdf=_zipf_cdf(len(servicing), SERVICING_ZIPF),
        also_serves=also_serves,
        self_rate=min(1.0, SELF_BILLED / eligible),
        junk=np.array([not is_valid_npi(v) for v in values]),
        spellings=pa.array(spellings, pa.string()),
        code_of=code_of_arr,
        code_cdf=code_cdf / code_cdf[-1],
        log_price=_rng(spec, _CODE_STREAM).normal(3.6, 0.9, code_of_arr.max() + 1)[code_of_arr],
        outlier_rank=planted_outlier(spec)[0],
    )


def _draw(rng: np.random.Generator, cdf: np.ndarray, m: int, cover: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``m`` ranks drawn by ``cdf``, with the ``cover`` ranks (as many as fit) placed at random rows.

    Returns the ranks and the rows holding ``cover``, which later rules must leave alone.
    """
    ranks = np.searchsorted(cdf, rng.random(m), side="right")
    np.minimum(ranks, len(cdf) - 1, out=ranks)  # guards against cdf[-1] rounding below 1.0
    rows = rng.choice(m, size=min(m, len(cover)), replace=False)
    ranks[rows] = cover[: len(rows)]
    return ranks, rows


@dataclass
class _Tally:
    """Running counts for the summary (distinct values as ``seen`` masks over the pools)."""

    billing_seen: np.ndarray
    servicing_seen: np.ndarray
    spelling_seen: np.ndarray
    rows: int = 0
    blank_servicing: int = 0
    self_billed: int = 0
    zero_paid: int = 0
    negative_paid: int = 0

    def summary(self, t: _Tables, row_groups: int) -> dict[str, int]:
        seen = self.billing_seen | self.servicing_seen
        return {
            "rows": self.rows,
            "row_groups": row_groups,
            "billing_npis": int(self.billing_seen.sum()),
            "servicing_npis": int(self.servicing_seen.sum()),
            "npis": int(seen.sum()),
            "junk_npis": int((seen & t.junk).sum()),
            "blank_servicing": self.blank_servicing,
            "self_billed": self.self_billed,
            "zero_paid": self.zero_paid,
            "negative_paid": self.negative_paid,
            "codes": len(np.unique(t.code_of[self.spelling_seen])),
            "code_values": int(self.spelling_seen.sum()),
        }


def _chunk(
    t: _Tables,
    rng: np.random.Generator,
    m: int,
    covers: tuple[np.ndarray, ...],
    months: pa.Array,
    first: bool,
    tally: _Tally,
) -> list[pa.Array]:
    """One chunk's columns in file order, months taken from ``months`` (dates or ``YYYY-MM``)."""
    billing_rank, _ = _draw(rng, t.billing_cdf, m, covers[0])
    servicing_rank, fixed = _draw(rng, t.servicing_cdf, m, covers[1])
    spelling, _ = _draw(rng, t.code_cdf, m, covers[2])
    billing, servicing = t.billing[billing_rank], t.servicing[servicing_rank]
    free = np.ones(m, dtype=bool)
    free[fixed] = False
    self_billed = free & t.also_serves[billing_rank] & (rng.random(m) < t.self_rate)
    servicing[self_billed] = billing[self_billed]
    blank = free & ~self_billed & (rng.random(m) < BLANK_SERVICING / (1 - SELF_BILLED))

    month = np.searchsorted(_MONTH_CDF, rng.random(m), side="right")
    claims = MIN_CLAIMS + np.floor(rng.lognormal(3.0, 1.2, m)).astype(np.int64)
    beneficiaries = np.clip(np.rint(claims * rng.beta(1.5, 3.0, m)), 1, claims).astype(np.int64)
    amount = np.round(claims * np.exp(t.log_price[spelling] + rng.normal(0.0, 0.6, m)), 2)
    amount = np.where(billing_rank == t.outlier_rank, np.round(amount * OUTLIER_FACTOR, 2), amount)
    zero = rng.random(m) < ZERO_PAID
    negative = ~zero & (rng.random(m) < NEGATIVE_PAID)
    if first:  # at least one negative amount in any file
        row = int(rng.integers(m))
        zero[row], negative[row] = False, True
    paid = np.where(zero, 0.0, np.where(negative, -amount, amount))

    tally.billing_seen[billing] = True
    tally.servicing_seen[servicing[~blank]] = True
    tally.spelling_seen[spelling] = True
    tally.rows += m
    tally.blank_servicing += int(blank.sum())
    tally.self_billed += int(self_billed.sum())
    tally.zero_paid += int(zero.sum())
    tally.negative_paid += int(negative.sum())
    return [
        t.npis.take(pa.array(billing)),
        t.npis.take(pa.array(servicing, mask=blank)),
        t.spellings.take(pa.array(spelling)),
        months.take(pa.array(month)),
        pa.array(beneficiaries),
        pa.array(claims),
        pa.array(paid),
    ]


def _write_file(
    spec: WorldSpec, t: _Tables, path: Path, rows: int, stream: int, schema: pa.Schema, chunk_rows: int
) -> dict[str, int]:
    """Write one release atomically: chunks go to a temporary name renamed at the end."""
    months = _MONTH_DATES if schema.field("CLAIM_FROM_MONTH").type == pa.date32() else _MONTH_TEXT
    n_chunks = -(-rows // chunk_rows)
    ranks = (np.arange(len(t.billing)), np.arange(len(t.servicing)), np.arange(len(t.spellings)))
    tally = _Tally(
        np.zeros(len(t.npis), dtype=bool), np.zeros(len(t.npis), dtype=bool), np.zeros(len(t.spellings), dtype=bool)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.partial")
    try:
        with pq.ParquetWriter(tmp, schema, **WRITER_OPTIONS) as writer:
            for c in range(n_chunks):
                m = rows * (c + 1) // n_chunks - rows * c // n_chunks  # balanced chunks, none tiny
                covers = tuple(r[c::n_chunks] for r in ranks)
                columns = _chunk(t, _rng(spec, stream, c), m, covers, months, c == 0, tally)
                writer.write_table(pa.Table.from_arrays(columns, schema=schema), row_group_size=chunk_rows)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tally.summary(t, n_chunks)


def variant_rows(spec: WorldSpec) -> int:
    """Rows of the later release: smaller than the main file, it only has to exercise the aliases."""
    return max(1_000, spec.spending_rows // 20)


def write_spending_files(spec: WorldSpec, files_dir: Path, chunk_rows: int = CHUNK_ROWS) -> dict[str, Any]:
    """Write both releases under ``files_dir`` (at their ``urls.disk_path``) and summarise them.

    The bytes depend on ``spec`` and ``chunk_rows`` (chunks are the unit of randomness), not on timing.
    """
    t = _tables(spec)
    files: dict[str, Any] = {}
    for url, rows, stream, schema in (
        (DEFAULT_SPENDING_URL, spec.spending_rows, _MAIN_STREAM, SCHEMA),
        (SPENDING_V2_URL, variant_rows(spec), _V2_STREAM, SCHEMA_V2),
    ):
        rel = disk_path(url)
        files[str(rel)] = {"url": url} | _write_file(spec, t, files_dir / rel, rows, stream, schema, chunk_rows)
    return {
        "billing_pool": len(t.billing),
        "servicing_pool": len(t.servicing),
        "junk_pool": int(t.junk.sum()),
        "code_values_pool": len(t.spellings),
        "files": files,
    }

"""Medicare PFS payment amounts from RVUs, GPCIs and the conversion factor, exactly as CMS computes them.

Non-facility = [(work RVU x work GPCI) + (non-facility PE RVU x PE GPCI) + (MP RVU x MP GPCI)] x CF, facility
the same with the facility PE RVU, both rounded half up to the cent. For the imaging services the Deficit
Reduction Act caps (OPPS RVUs present), the same formula with the OPPS PE and MP RVUs gives the cap and the lower
amount wins. Limiting charge = amount x 1.0925, to the cent. Only statuses A, R and T are paid. The arithmetic is
exact (scaled integers), so the amounts reproduce CMS's published payment file to the cent (the golden test).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

AMOUNT_COLUMNS: dict[str, str] = {
    "release": "VARCHAR",
    "hcpcs_code": "VARCHAR",
    "modifier": "VARCHAR",
    "carrier": "VARCHAR",
    "locality": "VARCHAR",
    "state": "VARCHAR",
    "locality_name": "VARCHAR",
    "status": "VARCHAR",
    "description": "VARCHAR",
    "non_facility_amount": "DECIMAL(12,2)",
    "facility_amount": "DECIMAL(12,2)",
    "non_facility_limiting_charge": "DECIMAL(12,2)",
    "facility_limiting_charge": "DECIMAL(12,2)",
    "opps_capped": "BOOLEAN",
    "non_facility_na": "BOOLEAN",
    "facility_na": "BOOLEAN",
    "conversion_factor": "DECIMAL(9,4)",
}
AMOUNT_DESCRIPTIONS: dict[str, str] = {
    "release": "PFS release (partition key, e.g. 2025Q4 for RVU25D)",
    "hcpcs_code": "CPT / Level II HCPCS code",
    "modifier": "'' (global), '26' (professional), 'TC' (technical) or '53' (discontinued): each its own row",
    "carrier": "Medicare administrative contractor (MAC) number, 5 digits",
    "locality": "payment locality within the carrier, 2 digits",
    "state": "two-letter state of the locality (GPCI file)",
    "locality_name": "locality name (GPCI file)",
    "status": "PFS status code: A, R or T (the paid ones)",
    "description": "PPRRVU short descriptor",
    "non_facility_amount": "non-facility fee schedule amount, OPPS cap applied (USD)",
    "facility_amount": "facility fee schedule amount, OPPS cap applied (USD)",
    "non_facility_limiting_charge": "non-facility amount x 1.0925 (non-participating limit)",
    "facility_limiting_charge": "facility amount x 1.0925",
    "opps_capped": "the OPPS imaging cap lowered at least one of the two amounts",
    "non_facility_na": "CMS marks the service as rarely/never done outside a facility (NA indicator)",
    "facility_na": "CMS marks the service as rarely/never done in a facility",
    "conversion_factor": "conversion factor of the release",
}
STATE_COLUMNS: dict[str, str] = {
    "release": "VARCHAR",
    "hcpcs_code": "VARCHAR",
    "modifier": "VARCHAR",
    "state": "VARCHAR",
    "localities": "BIGINT",
    "status": "VARCHAR",
    "non_facility_amount": "DECIMAL(12,2)",
    "facility_amount": "DECIMAL(12,2)",
    "non_facility_limiting_charge": "DECIMAL(12,2)",
    "facility_limiting_charge": "DECIMAL(12,2)",
}
STATE_DESCRIPTIONS: dict[str, str] = {
    "release": "PFS release (partition key)",
    "hcpcs_code": "CPT / Level II HCPCS code",
    "modifier": "'' (global), '26', 'TC' or '53'",
    "state": "two-letter state, or US for the national amount (RVUs x CF, every GPCI 1.0)",
    "localities": "localities averaged (0 for the national row)",
    "status": "PFS status code (A, R, T)",
    "non_facility_amount": "unweighted mean of the state's locality amounts, to the cent (USD)",
    "facility_amount": "unweighted mean of the state's locality facility amounts (USD)",
    "non_facility_limiting_charge": "non-facility amount x 1.0925",
    "facility_limiting_charge": "facility amount x 1.0925",
}

# Exact integer arithmetic (BIGINT, fast): RVUs in hundredths, GPCIs and the CF in ten-thousandths, so the formula's
# value is in 1e-10 dollars (at most ~6e15, far inside BIGINT) and rounds half up to the cent by integer division.
_CENTS = "(({w} * wg + {pe} * pg + {mp} * mg) * cf + 50000000) // 100000000"
# Money leaves DuckDB as whole cents (BIGINT) and becomes DECIMAL(12,2) in Arrow by reinterpreting the integers
# (see _with_money): DuckDB's own DECIMAL-to-Arrow export cost more than the whole computation.
_DOLLARS = "{cents}"
_LIMITING = "({cents} * 10925 + 5000) // 10000"  # x 1.0925, half up
MONEY_COLUMNS = (
    "non_facility_amount",
    "facility_amount",
    "non_facility_limiting_charge",
    "facility_limiting_charge",
)

_AMOUNTS_SQL = f"""
WITH paid AS (
    SELECT hcpcs_code, modifier, status, description, conversion_factor, non_facility_na, facility_na,
        (work_rvu * 100)::BIGINT AS w, (non_facility_pe_rvu * 100)::BIGINT AS nfpe,
        (facility_pe_rvu * 100)::BIGINT AS fpe, (mp_rvu * 100)::BIGINT AS mp,
        (opps_non_facility_pe_rvu * 100)::BIGINT AS onfpe, (opps_facility_pe_rvu * 100)::BIGINT AS ofpe,
        (opps_mp_rvu * 100)::BIGINT AS omp, (conversion_factor * 10000)::BIGINT AS cf
    FROM rvus WHERE status IN ('A', 'R', 'T')
), gpci AS (
    SELECT carrier, locality, state, locality_name, (work_gpci * 10000)::BIGINT AS wg,
        (pe_gpci * 10000)::BIGINT AS pg, (mp_gpci * 10000)::BIGINT AS mg
    FROM localities
), priced AS (
    SELECT p.*, g.carrier, g.locality, g.state, g.locality_name,
        {_CENTS.format(w="w", pe="nfpe", mp="mp")} AS nf,
        {_CENTS.format(w="w", pe="fpe", mp="mp")} AS f,
        CASE WHEN onfpe + ofpe + omp > 0 THEN {_CENTS.format(w="w", pe="onfpe", mp="omp")} END AS opps_nf,
        CASE WHEN onfpe + ofpe + omp > 0 THEN {_CENTS.format(w="w", pe="ofpe", mp="omp")} END AS opps_f
    FROM paid p CROSS JOIN gpci g
), capped AS (
    SELECT *, least(nf, coalesce(opps_nf, nf)) AS nfa, least(f, coalesce(opps_f, f)) AS fa FROM priced
)
SELECT $release AS release, hcpcs_code, modifier, carrier, locality, state, locality_name, status, description,
    {_DOLLARS.format(cents="nfa")} AS non_facility_amount, {_DOLLARS.format(cents="fa")} AS facility_amount,
    {_LIMITING.format(cents="nfa")} AS non_facility_limiting_charge,
    {_LIMITING.format(cents="fa")} AS facility_limiting_charge,
    coalesce(opps_nf < nf OR opps_f < f, false) AS opps_capped,
    non_facility_na = 'NA' AS non_facility_na, facility_na = 'NA' AS facility_na,
    CAST(conversion_factor AS DECIMAL(9, 4)) AS conversion_factor
FROM capped
"""

_STATE_SQL = f"""
WITH states AS (
    SELECT hcpcs_code, modifier, state, count(*) AS localities, any_value(status) AS status,
        round(avg(non_facility_amount))::BIGINT AS nfa, round(avg(facility_amount))::BIGINT AS fa
    FROM amounts GROUP BY ALL
), national AS (
    SELECT hcpcs_code, modifier, $national AS state, 0 AS localities, status,
        (((work_rvu + non_facility_pe_rvu + mp_rvu) * 100)::BIGINT * (conversion_factor * 10000)::BIGINT
            + 5000) // 10000 AS nfa,
        (((work_rvu + facility_pe_rvu + mp_rvu) * 100)::BIGINT * (conversion_factor * 10000)::BIGINT
            + 5000) // 10000 AS fa
    FROM rvus WHERE status IN ('A', 'R', 'T')
)
SELECT $release AS release, hcpcs_code, modifier, state, CAST(localities AS BIGINT) AS localities, status,
    {_DOLLARS.format(cents="nfa")} AS non_facility_amount, {_DOLLARS.format(cents="fa")} AS facility_amount,
    {_LIMITING.format(cents="nfa")} AS non_facility_limiting_charge,
    {_LIMITING.format(cents="fa")} AS facility_limiting_charge
FROM (SELECT * FROM states UNION ALL SELECT * FROM national)
"""


def _with_money(table: pa.Table) -> pa.Table:
    """The cents columns as DECIMAL(12,2): a decimal128 is a 16-byte two's-complement integer of the unscaled value,
    so the cents (never NULL, within int64) are written into the low word and their sign into the high word."""
    for name in MONEY_COLUMNS:
        cents = table.column(name).combine_chunks().to_numpy(zero_copy_only=False).astype(np.int64)
        words = np.empty((len(cents), 2), dtype=np.int64)
        words[:, 0], words[:, 1] = cents, np.where(cents < 0, -1, 0)
        money = pa.Array.from_buffers(pa.decimal128(12, 2), len(cents), [None, pa.py_buffer(words.tobytes())])
        table = table.set_column(table.schema.get_field_index(name), name, money)
    return table


def _as_cents(table: pa.Table) -> pa.Table:
    """The inverse of _with_money: DECIMAL(12,2) money columns as int64 cents (the low word of each value)."""
    for name in MONEY_COLUMNS:
        if name not in table.column_names:
            continue
        array = table.column(name).combine_chunks()
        if array.null_count:
            raise ValueError(f"{name} has missing amounts")
        words = np.frombuffer(array.buffers()[1], dtype=np.int64).reshape(-1, 2)[
            array.offset : array.offset + len(array)
        ]
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(words[:, 0].copy()))
    return table


def price_localities(release: str, rvus: pa.Table, localities: pa.Table) -> pa.Table:
    """One row per paid code x modifier x locality (``rvus``: pfs_parse.RVU_SCHEMA; ``localities``: its GPCIs)."""
    with duckdb.connect() as conn:
        # One chunk per input: DuckDB scans an Arrow table chunk by chunk, and thousands of small chunks (a table
        # concatenated from many reads) cost more than the whole computation.
        conn.register("rvus", rvus.combine_chunks())
        conn.register("localities", localities.combine_chunks())
        return _with_money(conn.execute(_AMOUNTS_SQL, {"release": release}).to_arrow_table())


def state_amounts(release: str, rvus: pa.Table, amounts: pa.Table, national: str) -> pa.Table:
    """Per code x modifier: each state's unweighted locality average, and a ``national`` row (GPCIs 1.0)."""
    with duckdb.connect() as conn:
        conn.register("rvus", rvus.combine_chunks())
        conn.register(
            "amounts", _as_cents(amounts.select(["hcpcs_code", "modifier", "state", "status", *MONEY_COLUMNS[:2]]))
        )
        return _with_money(conn.execute(_STATE_SQL, {"release": release, "national": national}).to_arrow_table())

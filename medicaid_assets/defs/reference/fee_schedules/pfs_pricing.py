"""Medicare PFS payment amounts from RVUs, GPCIs and the conversion factor, exactly as CMS computes them.

Non-facility = [(work RVU x work GPCI) + (non-facility PE RVU x PE GPCI) + (MP RVU x MP GPCI)] x CF, facility
the same with the facility PE RVU, both rounded half up to the cent. For the imaging services the Deficit
Reduction Act caps (OPPS RVUs present), the same formula with the OPPS PE and MP RVUs gives the cap and the lower
amount wins. Limiting charge = amount x 1.0925. Only statuses A, R and T are paid. DuckDB DECIMAL arithmetic is
exact, so the amounts reproduce CMS's published payment file to the cent (the golden test) at any size.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

LIMITING_FACTOR = "1.0925"

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

_AMOUNTS_SQL = f"""
WITH paid AS (
    SELECT *, (opps_non_facility_pe_rvu + opps_facility_pe_rvu + opps_mp_rvu) > 0 AS has_opps
    FROM rvus WHERE status IN ('A', 'R', 'T')
), priced AS (
    SELECT p.*, l.carrier, l.locality, l.state, l.locality_name,
        round((work_rvu * work_gpci + non_facility_pe_rvu * pe_gpci + mp_rvu * mp_gpci) * conversion_factor, 2) AS nf,
        round((work_rvu * work_gpci + facility_pe_rvu * pe_gpci + mp_rvu * mp_gpci) * conversion_factor, 2) AS f,
        CASE WHEN has_opps THEN round((work_rvu * work_gpci + opps_non_facility_pe_rvu * pe_gpci
            + opps_mp_rvu * mp_gpci) * conversion_factor, 2) END AS opps_nf,
        CASE WHEN has_opps THEN round((work_rvu * work_gpci + opps_facility_pe_rvu * pe_gpci
            + opps_mp_rvu * mp_gpci) * conversion_factor, 2) END AS opps_f
    FROM paid p CROSS JOIN localities l
), capped AS (
    SELECT *, CAST(least(nf, coalesce(opps_nf, nf)) AS DECIMAL(12, 2)) AS nfa,
        CAST(least(f, coalesce(opps_f, f)) AS DECIMAL(12, 2)) AS fa
    FROM priced
)
SELECT $release AS release, hcpcs_code, modifier, carrier, locality, state, locality_name, status, description,
    nfa AS non_facility_amount, fa AS facility_amount,
    CAST(round(nfa * {LIMITING_FACTOR}, 2) AS DECIMAL(12, 2)) AS non_facility_limiting_charge,
    CAST(round(fa * {LIMITING_FACTOR}, 2) AS DECIMAL(12, 2)) AS facility_limiting_charge,
    coalesce(opps_nf < nf OR opps_f < f, false) AS opps_capped,
    non_facility_na = 'NA' AS non_facility_na, facility_na = 'NA' AS facility_na,
    CAST(conversion_factor AS DECIMAL(9, 4)) AS conversion_factor
FROM capped ORDER BY hcpcs_code, modifier, carrier, locality
"""

_STATE_SQL = f"""
WITH states AS (
    SELECT hcpcs_code, modifier, state, count(*) AS localities, any_value(status) AS status,
        CAST(round(avg(non_facility_amount), 2) AS DECIMAL(12, 2)) AS nfa,
        CAST(round(avg(facility_amount), 2) AS DECIMAL(12, 2)) AS fa
    FROM amounts GROUP BY ALL
), national AS (
    SELECT hcpcs_code, modifier, $national AS state, 0 AS localities, status,
        CAST(round((work_rvu + non_facility_pe_rvu + mp_rvu) * conversion_factor, 2) AS DECIMAL(12, 2)) AS nfa,
        CAST(round((work_rvu + facility_pe_rvu + mp_rvu) * conversion_factor, 2) AS DECIMAL(12, 2)) AS fa
    FROM rvus WHERE status IN ('A', 'R', 'T')
)
SELECT $release AS release, hcpcs_code, modifier, state, CAST(localities AS BIGINT) AS localities, status,
    nfa AS non_facility_amount, fa AS facility_amount,
    CAST(round(nfa * {LIMITING_FACTOR}, 2) AS DECIMAL(12, 2)) AS non_facility_limiting_charge,
    CAST(round(fa * {LIMITING_FACTOR}, 2) AS DECIMAL(12, 2)) AS facility_limiting_charge
FROM (SELECT * FROM states UNION ALL SELECT * FROM national)
ORDER BY hcpcs_code, modifier, state
"""


def price_localities(release: str, rvus: pa.Table, localities: pa.Table) -> pa.Table:
    """One row per paid code x modifier x locality (``rvus``: pfs_parse.RVU_SCHEMA; ``localities``: its GPCIs)."""
    with duckdb.connect() as conn:
        conn.register("rvus", rvus)
        conn.register("localities", localities)
        return conn.execute(_AMOUNTS_SQL, {"release": release}).to_arrow_table()


def state_amounts(release: str, rvus: pa.Table, amounts: pa.Table, national: str) -> pa.Table:
    """Per code x modifier: each state's unweighted locality average, and a ``national`` row (GPCIs 1.0)."""
    with duckdb.connect() as conn:
        conn.register("rvus", rvus)
        conn.register("amounts", amounts)
        return conn.execute(_STATE_SQL, {"release": release, "national": national}).to_arrow_table()

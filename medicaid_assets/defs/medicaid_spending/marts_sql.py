"""SQL of the analysis marts: spending rows joined to who the provider is, what the code is, and its status.

Pure text builders (no Dagster, no connection): the assets run them in the warehouse. Relations they expect on the
connection: the spending and NPPES provider tables (names from their families' keys), ``taxonomy`` (the NUCC code set, registered
from its stored value) and ``codes`` (one row per resolved code: ``hcpcs_code``, ``description``).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from medicaid_assets.defs.medicaid_spending.keys import SPENDING_TABLE
from medicaid_assets.defs.reference.nppes.keys import PROVIDER_TABLE

# Column -> (type, description) of spending_enriched, in table order.
ENRICHED_COLUMNS: dict[str, tuple[str, str]] = {
    "claim_month": ("DATE", "CLAIM_FROM_MONTH of the spending row (partition)"),
    "billing_npi": ("VARCHAR", "BILLING_PROVIDER_NPI_NUM as in the file"),
    "servicing_npi": ("VARCHAR", "SERVICING_PROVIDER_NPI_NUM as in the file"),
    "hcpcs_code": ("VARCHAR", "HCPCS_CODE as in the file"),
    "beneficiaries": ("BIGINT", "TOTAL_UNIQUE_BENEFICIARIES"),
    "claims": ("BIGINT", "TOTAL_CLAIMS"),
    "paid": ("DOUBLE", "TOTAL_PAID (USD)"),
    **{
        f"{role}_{name}": (type_, f"{role} provider: {text}")
        for role in ("billing", "servicing")
        for name, type_, text in (
            ("provider_name", "VARCHAR", "organization name, else first and last name (NPPES)"),
            ("entity_type", "VARCHAR", "individual or organization (NPPES entity type 1/2)"),
            (
                "npi_status",
                "VARCHAR",
                "active, deactivated (NPPES), unknown (valid NPI NPPES lacks), invalid "
                "(not 10 digits or a wrong check digit); NULL when blank",
            ),
            ("taxonomy_code", "VARCHAR", "primary taxonomy (switch Y, else the first listed)"),
            ("taxonomy_classification", "VARCHAR", "NUCC classification of the primary taxonomy"),
            ("taxonomy_specialization", "VARCHAR", "NUCC specialization of the primary taxonomy"),
            ("state", "VARCHAR", "practice location state"),
            ("zip5", "VARCHAR", "practice location ZIP, first five digits"),
        )
    },
    "code_description": ("VARCHAR", "long description of the resolved code (HCPCS mapping)"),
    "code_kind": ("VARCHAR", "CPT, Level II, CDT, revenue, modifier-suffixed or junk, from the code's shape"),
    "code_resolved": ("BOOLEAN", "the code resolved to a description (HCPCS mapping)"),
}

# Code kind from the code's shape alone (trimmed, upper case), first match wins.
CODE_KINDS = (
    ("CPT", r"^[0-9]{4}[0-9FTU]$"),
    ("CDT", r"^D[0-9]{4}$"),
    ("Level II", r"^[A-V][0-9]{4}$"),
    ("revenue", r"^[0-9]{4}$"),
    ("modifier-suffixed", r"^([0-9]{4}[0-9FTU]|[A-V][0-9]{4})[A-Z0-9]{2}$"),
)


def code_kind_sql(expr: str) -> str:
    whens = " ".join(f"WHEN regexp_full_match(c, '{pattern}') THEN '{kind}'" for kind, pattern in CODE_KINDS)
    return f"(SELECT CASE {whens} ELSE 'junk' END FROM (SELECT upper(trim({expr})) AS c))"


def npi_valid_sql(expr: str) -> str:
    """True when ``expr`` is 10 digits with the NPI check digit (Luhn over ``80840`` + the first nine digits)."""
    terms = []
    for i in range(1, 10):
        digit = f"TRY_CAST(substr({expr}, {i}, 1) AS INTEGER)"
        # Counting from the right of the nine digits, every other digit starting with the ninth is doubled.
        terms.append(f"(({digit} * 2) // 10 + ({digit} * 2) % 10)" if i % 2 == 1 else digit)
    check = f"(10 - (24 + {' + '.join(terms)}) % 10) % 10"
    return f"(regexp_full_match({expr}, '[0-9]{{10}}') AND {check} = TRY_CAST(substr({expr}, 10, 1) AS INTEGER))"


def _status(npi: str, provider: str) -> str:
    return (
        f"CASE WHEN nullif(trim({npi}), '') IS NULL THEN NULL WHEN NOT {npi_valid_sql(f'trim({npi})')} THEN 'invalid' "
        f"WHEN {provider}.npi IS NULL THEN 'unknown' WHEN {provider}.status = 'D' THEN 'deactivated' ELSE 'active' END"
    )


# One row per NPI with the fields the mart shows, the primary taxonomy named by the NUCC code set.
PROVIDERS_SQL = """
SELECT p.npi, p.provider_name,
       CASE p.entity_type WHEN '1' THEN 'individual' WHEN '2' THEN 'organization' END AS entity_type,
       p.status, p.taxonomy_code, t.classification, t.specialization,
       p.location_state AS state, left(p.location_postal_code, 5) AS zip5
FROM (
    SELECT npi, provider_name, entity_type, status, location_state, location_postal_code,
           coalesce(list_filter(taxonomies, t -> t.is_primary)[1].code, taxonomies[1].code) AS taxonomy_code
    FROM {providers} {where}
) p
LEFT JOIN taxonomy t ON t.taxonomy_code = p.taxonomy_code
"""


def _provider_columns(role: str, alias: str, npi: str) -> list[tuple[str, str]]:
    """(expression, column) of the ``role`` provider's columns, ``alias`` being a row of the providers query."""
    return [
        (f"{alias}.provider_name", f"{role}_provider_name"),
        (f"{alias}.entity_type", f"{role}_entity_type"),
        (_status(npi, alias), f"{role}_npi_status"),
        (f"{alias}.taxonomy_code", f"{role}_taxonomy_code"),
        (f"{alias}.classification", f"{role}_taxonomy_classification"),
        (f"{alias}.specialization", f"{role}_taxonomy_specialization"),
        (f"{alias}.state", f"{role}_state"),
        (f"{alias}.zip5", f"{role}_zip5"),
    ]


PROVIDER_SUFFIXES = tuple(name.removeprefix("x_") for _, name in _provider_columns("x", "p", "npi"))


def enriched_select_sql() -> str:
    """SELECT the mart's rows for the months in ``[$start, $end)``, one per spending row, in table column order.

    Who an NPI is and what a code is are worked out once per distinct value of the months (a few hundred thousand
    NPIs, a few thousand codes), not once per row, then joined on the raw values.
    """
    who = ", ".join(f"{expr} AS {name.removeprefix('x_')}" for expr, name in _provider_columns("x", "p", "i.raw"))
    columns = [
        "s.CLAIM_FROM_MONTH AS claim_month",
        "s.BILLING_PROVIDER_NPI_NUM AS billing_npi",
        "s.SERVICING_PROVIDER_NPI_NUM AS servicing_npi",
        "s.HCPCS_CODE AS hcpcs_code",
        "s.TOTAL_UNIQUE_BENEFICIARIES AS beneficiaries",
        "s.TOTAL_CLAIMS AS claims",
        "s.TOTAL_PAID AS paid",
        *(
            f"{alias}.{suffix} AS {role}_{suffix}"
            for role, alias in (("billing", "b"), ("servicing", "v"))
            for suffix in PROVIDER_SUFFIXES
        ),
        "k.code_description",
        "k.code_kind",
        "k.code_resolved",
    ]
    return f"""
WITH s AS (
    SELECT * FROM {SPENDING_TABLE} WHERE CLAIM_FROM_MONTH >= $start AND CLAIM_FROM_MONTH < $end
), ids AS (
    SELECT DISTINCT raw FROM (SELECT BILLING_PROVIDER_NPI_NUM AS raw FROM s
                              UNION ALL SELECT SERVICING_PROVIDER_NPI_NUM FROM s) WHERE raw IS NOT NULL
), p AS ({PROVIDERS_SQL.format(providers=PROVIDER_TABLE, where="WHERE npi IN (SELECT trim(raw) FROM ids)")}
), who AS (
    SELECT i.raw, {who} FROM ids i LEFT JOIN p ON p.npi = trim(i.raw)
), kinds AS (
    SELECT r.raw, c.description AS code_description, {code_kind_sql("r.raw")} AS code_kind,
           c.hcpcs_code IS NOT NULL AS code_resolved
    FROM (SELECT DISTINCT HCPCS_CODE AS raw FROM s WHERE HCPCS_CODE IS NOT NULL) r
    LEFT JOIN codes c ON c.hcpcs_code = trim(r.raw)
)
SELECT {", ".join(columns)}
FROM s
LEFT JOIN who b ON b.raw = s.BILLING_PROVIDER_NPI_NUM
LEFT JOIN who v ON v.raw = s.SERVICING_PROVIDER_NPI_NUM
LEFT JOIN kinds k ON k.raw = s.HCPCS_CODE
"""


def refresh_npis_sql(table: str, role: str) -> str:
    """UPDATE the ``role`` provider columns of ``table`` for the NPIs in the relation ``touched(npi)`` only."""
    alias = "p"
    sets = [f"{name} = {expr}" for expr, name in _provider_columns(role, alias, f"e.{role}_npi")]
    return (
        f"UPDATE {table} AS e SET {', '.join(sets)}\n"
        f"FROM ({PROVIDERS_SQL.format(providers=PROVIDER_TABLE, where='WHERE npi IN (SELECT npi FROM touched)')}) {alias}\n"
        f"WHERE trim(e.{role}_npi) = {alias}.npi"
    )


MONTH_TOTALS_SQL = f"""
SELECT m, coalesce(e.rows, 0), coalesce(e.paid, 0), coalesce(s.rows, 0), coalesce(s.paid, 0)
FROM (SELECT CLAIM_FROM_MONTH AS m, count(*) AS rows, sum(TOTAL_PAID) AS paid FROM {SPENDING_TABLE}
      WHERE CLAIM_FROM_MONTH >= $start AND CLAIM_FROM_MONTH < $end GROUP BY ALL) s
FULL JOIN (SELECT claim_month AS m, count(*) AS rows, sum(paid) AS paid FROM {{table}}
      WHERE claim_month >= $start AND claim_month < $end GROUP BY ALL) e USING (m)
ORDER BY m
"""


# ---- Rollups (over the enriched table, named by ``{table}``) --------------------------------------------------------
STATE_MONTH_KIND_SQL = """
SELECT billing_state AS state, claim_month, code_kind, count(*) AS rows, sum(claims) AS claims,
       sum(beneficiaries) AS beneficiaries, sum(paid) AS paid
FROM {table} GROUP BY ALL ORDER BY ALL
"""

PROVIDER_TOTALS_SQL = """
SELECT trim(billing_npi) AS billing_npi, any_value(billing_provider_name) AS provider_name,
       any_value(billing_entity_type) AS entity_type, any_value(billing_npi_status) AS npi_status,
       any_value(billing_taxonomy_code) AS taxonomy_code,
       any_value(billing_taxonomy_classification) AS taxonomy_classification,
       any_value(billing_state) AS state, count(*) AS rows, sum(claims) AS claims,
       sum(beneficiaries) AS beneficiaries, sum(paid) AS paid,
       sum(paid) / nullif(sum(claims), 0) AS paid_per_claim,
       sum(paid) / nullif(sum(beneficiaries), 0) AS paid_per_beneficiary,
       count(DISTINCT claim_month) AS months_active, count(DISTINCT trim(hcpcs_code)) AS distinct_codes,
       min(claim_month) AS first_month, max(claim_month) AS last_month
FROM {table} GROUP BY 1 ORDER BY paid DESC
"""

NATIONAL_STATE = "US"
# Per code: one row per billing state (``??`` when unknown) and one national row (state ``US``).
CODE_TOTALS_SQL = f"""
SELECT hcpcs_code,
       CASE WHEN grouping(billing_state) = 1 THEN '{NATIONAL_STATE}' ELSE coalesce(billing_state, '??') END AS state,
       any_value(code_description) AS description, any_value(code_kind) AS code_kind,
       count(*) AS rows, sum(claims) AS claims, sum(beneficiaries) AS beneficiaries, sum(paid) AS paid,
       sum(paid) / nullif(sum(claims), 0) AS paid_per_claim, count(DISTINCT billing_npi) AS billing_providers
FROM (SELECT * REPLACE (trim(hcpcs_code) AS hcpcs_code, trim(billing_npi) AS billing_npi) FROM {{table}})
GROUP BY GROUPING SETS ((hcpcs_code, billing_state), (hcpcs_code))
ORDER BY paid DESC
"""


# ---- Medicaid-to-Medicare fee index -----------------------------------------------------------------------------
FEE_INDEX_SQL = """
WITH medicaid AS (
    SELECT trim(hcpcs_code) AS hcpcs_code, billing_state AS state, year(claim_month) AS year,
           count(*) AS rows, sum(claims) AS claims, sum(paid) AS paid
    FROM {table}
    WHERE billing_state IS NOT NULL
    GROUP BY ALL HAVING sum(claims) > 0
), medicare AS (
    SELECT hcpcs_code, state, non_facility_amount, facility_amount, release
    FROM pfs WHERE modifier = '' AND release = (SELECT max(release) FROM pfs)
)
SELECT m.hcpcs_code, m.state, m.year, m.rows, m.claims, round(m.paid, 2) AS paid,
       round(m.paid / m.claims, 2) AS medicaid_paid_per_claim,
       p.non_facility_amount::DOUBLE AS medicare_non_facility, p.facility_amount::DOUBLE AS medicare_facility,
       round(m.paid / m.claims / nullif(p.non_facility_amount::DOUBLE, 0), 4) AS index_non_facility,
       round(m.paid / m.claims / nullif(p.facility_amount::DOUBLE, 0), 4) AS index_facility,
       p.release AS pfs_release
FROM medicaid m JOIN medicare p USING (hcpcs_code, state)
ORDER BY m.claims DESC, m.hcpcs_code, m.state, m.year
"""

# ---- Provider screening -------------------------------------------------------------------------------------------
SCREENING_METRICS = (
    "paid_per_beneficiary",
    "claims_per_beneficiary",
    "paid_per_claim",
    "high_level_em_share",
    "yoy_growth",
)
MIN_CLAIMS = 50  # providers billing fewer claims are too noisy to compare
MIN_PEERS = 5  # a peer group smaller than this falls back to the taxonomy nationally, then to every provider
Z_FLAG = 3.5  # |robust z| above this is a reason (Iglewicz and Hoaglin's cut-off for modified z-scores)
HIGH_LEVEL_EM = ("99204", "99205", "99214", "99215")
OFFICE_EM = r"992(0[2-5]|1[1-5])"


def screening_sql(table: str) -> str:
    """One row per active billing provider with its metrics, robust z-scores within its peer group, and reasons."""
    metrics_long = " UNION ALL ".join(
        f"SELECT npi, peer_group, '{m}' AS metric, {m} AS value FROM grouped" for m in SCREENING_METRICS
    )
    pivot = ", ".join(f"max(z) FILTER (WHERE metric = '{m}') AS z_{m}" for m in SCREENING_METRICS)
    high = ", ".join(f"'{c}'" for c in HIGH_LEVEL_EM)
    return f"""
WITH years AS (SELECT max(year(claim_month)) AS last FROM {table}),
base AS (
    SELECT trim(billing_npi) AS npi, any_value(billing_provider_name) AS provider_name,
           any_value(billing_taxonomy_code) AS taxonomy_code, any_value(billing_state) AS state,
           sum(paid) AS paid, sum(claims) AS claims, sum(beneficiaries) AS beneficiaries,
           sum(claims) FILTER (WHERE trim(hcpcs_code) IN ({high})) AS high_em,
           sum(claims) FILTER (WHERE regexp_full_match(trim(hcpcs_code), '{OFFICE_EM}')) AS em,
           sum(paid) FILTER (WHERE year(claim_month) = (SELECT last FROM years)) AS paid_last,
           sum(paid) FILTER (WHERE year(claim_month) = (SELECT last FROM years) - 1) AS paid_prior
    FROM {table} WHERE billing_npi_status = 'active' GROUP BY 1 HAVING sum(claims) >= {MIN_CLAIMS}
), metrics AS (
    SELECT *, paid / nullif(beneficiaries, 0) AS paid_per_beneficiary,
           claims / nullif(beneficiaries, 0) AS claims_per_beneficiary, paid / nullif(claims, 0) AS paid_per_claim,
           high_em / nullif(em, 0) AS high_level_em_share,
           CASE WHEN paid_prior > 0 THEN paid_last / paid_prior - 1 END AS yoy_growth,
           count(*) OVER (PARTITION BY taxonomy_code, state) AS n_state,
           count(*) OVER (PARTITION BY taxonomy_code) AS n_taxonomy
    FROM base
), grouped AS (
    SELECT *, CASE WHEN n_state >= {MIN_PEERS} THEN coalesce(taxonomy_code, '?') || ' in ' || coalesce(state, '?')
                   WHEN n_taxonomy >= {MIN_PEERS} THEN coalesce(taxonomy_code, '?') || ' nationally'
                   ELSE 'all providers' END AS peer_group
    FROM metrics
), long AS ({metrics_long}),
stats AS (
    SELECT peer_group, metric, median(value) AS med, count(value) AS peers FROM long GROUP BY ALL
), mad AS (
    SELECT l.peer_group, l.metric, any_value(s.med) AS med, any_value(s.peers) AS peers,
           median(abs(l.value - s.med)) AS mad
    FROM long l JOIN stats s USING (peer_group, metric) GROUP BY ALL
), z AS (
    SELECT l.npi, l.metric, l.value,
           CASE WHEN m.mad > 0 THEN 0.6745 * (l.value - m.med) / m.mad END AS z
    FROM long l JOIN mad m USING (peer_group, metric)
), scored AS (
    SELECT npi, {pivot},
           max(abs(z)) AS score,
           list(metric || ' ' || CASE WHEN z > 0 THEN 'high' ELSE 'low' END || ' (z ' || round(z, 1) || ')'
                ORDER BY abs(z) DESC) FILTER (WHERE abs(z) >= {Z_FLAG}) AS reasons
    FROM z GROUP BY npi
)
SELECT row_number() OVER (ORDER BY s.score DESC NULLS LAST, g.npi) AS rank, g.npi AS billing_npi, g.provider_name,
       g.taxonomy_code, g.state, g.peer_group,
       count(*) OVER (PARTITION BY g.peer_group) AS peer_group_size, g.claims, g.beneficiaries, round(g.paid, 2) AS paid,
       {", ".join(f"g.{m}" for m in SCREENING_METRICS)}, {", ".join(f"s.z_{m}" for m in SCREENING_METRICS)},
       round(s.score, 2) AS score, coalesce(s.reasons, []) AS reasons, len(coalesce(s.reasons, [])) > 0 AS flagged
FROM grouped g JOIN scored s USING (npi)
ORDER BY rank
"""


def fee_index_table(conn: duckdb.DuckDBPyConnection, table: str, pfs: pa.Table) -> pa.Table:
    """The fee index of ``table`` (enriched rows) against ``pfs`` (pfs_state_amounts rows) on ``conn``."""
    conn.register("pfs", pfs)
    try:
        return conn.execute(FEE_INDEX_SQL.format(table=table)).to_arrow_table()
    finally:
        conn.unregister("pfs")

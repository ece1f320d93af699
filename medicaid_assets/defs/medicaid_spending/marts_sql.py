"""SQL of the analysis marts: spending rows joined to who the provider is, what the code is, and its status.

Pure text builders (no Dagster, no connection): the assets run them in the warehouse. Relations they expect on the
connection: the spending and NPPES provider tables (names from their families' keys), ``taxonomy`` (the NUCC code set, registered
from its stored value) and ``codes`` (one row per resolved code: ``hcpcs_code``, ``description``).
"""

from __future__ import annotations

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


def enriched_select_sql() -> str:
    """SELECT the mart's rows for the months in ``[$start, $end)``, one per spending row, in table column order."""
    columns = [
        "s.CLAIM_FROM_MONTH AS claim_month",
        "s.BILLING_PROVIDER_NPI_NUM AS billing_npi",
        "s.SERVICING_PROVIDER_NPI_NUM AS servicing_npi",
        "s.HCPCS_CODE AS hcpcs_code",
        "s.TOTAL_UNIQUE_BENEFICIARIES AS beneficiaries",
        "s.TOTAL_CLAIMS AS claims",
        "s.TOTAL_PAID AS paid",
        *(f"{expr} AS {name}" for expr, name in _provider_columns("billing", "b", "s.BILLING_PROVIDER_NPI_NUM")),
        *(f"{expr} AS {name}" for expr, name in _provider_columns("servicing", "v", "s.SERVICING_PROVIDER_NPI_NUM")),
        "c.description AS code_description",
        f"{code_kind_sql('s.HCPCS_CODE')} AS code_kind",
        "c.hcpcs_code IS NOT NULL AS code_resolved",
    ]
    return (
        f"WITH pt AS ({PROVIDERS_SQL.format(providers=PROVIDER_TABLE, where='')})\n"
        "SELECT " + ",\n       ".join(columns) + "\n"
        f"FROM {SPENDING_TABLE} s\n"
        "LEFT JOIN pt b ON b.npi = trim(s.BILLING_PROVIDER_NPI_NUM)\n"
        "LEFT JOIN pt v ON v.npi = trim(s.SERVICING_PROVIDER_NPI_NUM)\n"
        "LEFT JOIN codes c ON c.hcpcs_code = trim(s.HCPCS_CODE)\n"
        "WHERE s.CLAIM_FROM_MONTH >= $start AND s.CLAIM_FROM_MONTH < $end"
    )


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

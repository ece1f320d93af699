"""The in-database model over the raw tables: federated views, beneficiaries, enrollments, admissions and audit.

Every raw table names its fields its own way (long CCW names, NBER/SAS names of early years), so each view picks a
table's columns by candidate names and conditions them to one shape: 2-digit years to 4, dates from CCYYMMDD text
or SAS day numbers, 9-digit ZIPs split into ``zip`` + ``zip4``, SSA state codes to state ids and FIPS, diagnoses
as one array. Tables are rebuilt from scratch in one transaction each (decision 0001: bulk SQL tables in place).
"""

from __future__ import annotations

import re
from typing import Any

from medicaid_assets.defs.resdac_medicare.geography import SSA_STATES

# Canonical column → candidate names in raw tables (long CCW names first, then short and SAS names).
SUMMARY_FIELDS: dict[str, tuple[str, ...]] = {
    "dob": ("bene_birth_dt", "bene_dob", "dob"),
    "dod": ("bene_death_dt", "death_dt", "bene_dod", "dod"),
    "sex": ("sex_ident_cd", "bene_sex_ident_cd", "sex"),
    "race": ("bene_race_cd", "race"),
    "rti_race": ("rti_race_cd", "rti_race"),
    "ssa3": ("county_cd", "bene_county_cd", "cnty_cd", "county"),
    "hmo_cvg_count": ("bene_hmo_cvrage_tot_mons", "hmo_mo", "hmo_cvg_count"),
    "fips5": tuple(f"state_cnty_fips_cd_{m:02d}" for m in range(12, 0, -1)),  # the latest month's FIPS
}
ADMISSION_FIELDS: dict[str, tuple[str, ...]] = {
    "medpar_id": ("medpar_id", "medparid"),
    "admission_date": ("admsn_dt", "admsndt", "sadmsndt"),
    "discharge_date": ("dschrg_dt", "dschrgdt", "sdschrgdt"),
    "adm_day_of_week": ("admsn_day_cd", "admsnday"),
    "sex": ("bene_sex_cd", "sex"),
    "race": ("bene_race_cd", "race"),
}
DIAGNOSIS = re.compile(r"^(dgns_(\d+)_cd|dgns_?cd_?(\d+))$")
AUDIT_REASONS = ("PRIMARY KEY", "FOREIGN KEY", "DUPLICATE")


def raw_tables(conn: Any, schema: str, family: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            f"SELECT table_name FROM {schema}.raw_loads WHERE family = ? ORDER BY year, table_name", [family]
        ).fetchall()
    ]


def _columns(conn: Any, schema: str, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?", [schema, table]
    ).fetchall()
    return {name: type_ for name, type_ in rows}


def _pick(columns: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def date_sql(column: str | None, type_: str | None) -> str:
    """A DATE from a DATE, a SAS day number (days since 1960-01-01) or CCYYMMDD text."""
    if column is None:
        return "NULL::DATE"
    ref = f'"{column}"'
    if type_ in ("DATE", "TIMESTAMP"):
        return f"CAST({ref} AS DATE)"
    if type_ in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "DECIMAL"):
        return f"CAST(DATE '1960-01-01' + TRY_CAST({ref} AS INTEGER) AS DATE)"
    return f"TRY_CAST(TRY_STRPTIME(trim({ref}), '%Y%m%d') AS DATE)"


def _text(column: str | None) -> str:
    return f"NULLIF(trim(CAST(\"{column}\" AS VARCHAR)), '')" if column else "NULL::VARCHAR"


YEAR_SQL = "CASE WHEN year < 100 THEN year + CASE WHEN year >= 50 THEN 1900 ELSE 2000 END ELSE year END"
ZIP_DIGITS = "regexp_replace(coalesce(zip, ''), '[^0-9]', '', 'g')"


def _place_sql() -> str:
    """State id, SSA and FIPS state codes, 5-digit ZIP and ZIP+4 from the uniform ``state``/``zip`` columns."""
    return (
        "lpad(state, 2, '0') AS ssa2, "
        f"TRY_CAST(left({ZIP_DIGITS}, 5) AS INTEGER) AS zip, "
        f"CASE WHEN length({ZIP_DIGITS}) = 9 THEN TRY_CAST(right({ZIP_DIGITS}, 4) AS INTEGER) END AS zip4"
    )


def create_reference(conn: Any, schema: str) -> None:
    conn.execute(
        f"CREATE OR REPLACE TABLE {schema}.ssa_states (ssa2 VARCHAR PRIMARY KEY, state VARCHAR, fips2 VARCHAR)"
    )
    conn.executemany(f"INSERT INTO {schema}.ssa_states VALUES (?, ?, ?)", SSA_STATES)


def patient_summary_view(conn: Any, schema: str) -> int:
    """``ps``: every summary table (MBSF, denominators) in one shape. Returns how many tables it federates."""
    selects = []
    for table in raw_tables(conn, schema, "summary"):
        cols = _columns(conn, schema, table)
        picked = {name: _pick(cols, cands) for name, cands in SUMMARY_FIELDS.items()}
        selects.append(
            f"SELECT '{table}' AS source_table, source_file, record_number, bene_id, {YEAR_SQL} AS year, "
            f"{date_sql(picked['dob'], cols.get(picked['dob'] or ''))} AS dob, "
            f"{date_sql(picked['dod'], cols.get(picked['dod'] or ''))} AS dod, "
            f"{_text(picked['sex'])} AS sex, {_text(picked['race'])} AS race, {_text(picked['rti_race'])} AS rti_race, "
            f"lpad({_text(picked['ssa3'])}, 3, '0') AS ssa3, "
            f"TRY_CAST({_text(picked['hmo_cvg_count'])} AS INTEGER) AS hmo_cvg_count, "
            f"{_text(picked['fips5'])} AS fips5, {_place_sql()} "
            f"FROM {schema}.{table}"
        )
    body = (
        " UNION ALL ".join(selects)
        if selects
        else (
            "SELECT NULL::VARCHAR AS source_table, NULL::VARCHAR AS source_file, NULL::BIGINT AS record_number, "
            "NULL::VARCHAR AS bene_id, NULL::INTEGER AS year, NULL::DATE AS dob, NULL::DATE AS dod, "
            "NULL::VARCHAR AS sex, NULL::VARCHAR AS race, NULL::VARCHAR AS rti_race, NULL::VARCHAR AS ssa3, "
            "NULL::INTEGER AS hmo_cvg_count, NULL::VARCHAR AS fips5, NULL::VARCHAR AS ssa2, NULL::INTEGER AS zip, "
            "NULL::INTEGER AS zip4 WHERE false"
        )
    )
    # Second step (dorieh's ``_ps``): state ids and FIPS from the SSA code; county FIPS from the record's own
    # state-county FIPS when it has one (``fips3_is_approximated`` false), else from the SSA county code.
    conn.execute(
        f"""
        CREATE OR REPLACE VIEW {schema}.ps AS
        SELECT p.*, s.state AS state, s.fips2,
               coalesce(right(p.fips5, 3), p.ssa3) AS fips3,
               p.fips5 IS NULL AS fips3_is_approximated,
               p.fips5 IS NOT NULL AND left(p.fips5, 2) = s.fips2 AS fips3_validated
        FROM ({body}) p LEFT JOIN {schema}.ssa_states s USING (ssa2)
        """
    )
    return len(selects)


def admissions_view(conn: Any, schema: str) -> int:
    """``adm``: every admissions table (MedPAR, early inpatient) in one shape, diagnoses as one array."""
    selects = []
    for table in raw_tables(conn, schema, "admissions"):
        cols = _columns(conn, schema, table)
        picked = {name: _pick(cols, cands) for name, cands in ADMISSION_FIELDS.items()}
        diagnoses = sorted((int(m.group(2) or m.group(3)), c) for c in cols if (m := DIAGNOSIS.match(c)))
        dx = "[" + ", ".join(_text(c) for _, c in diagnoses) + "]::VARCHAR[]"
        admitted = date_sql(picked["admission_date"], cols.get(picked["admission_date"] or ""))
        selects.append(
            f"SELECT '{table}' AS source_table, source_file, record_number, bene_id, {_text(picked['medpar_id'])} "
            f"AS medpar_id, coalesce(year({admitted}), {YEAR_SQL}) AS year, {admitted} AS admission_date, "
            f"{date_sql(picked['discharge_date'], cols.get(picked['discharge_date'] or ''))} AS discharge_date, "
            f"TRY_CAST({_text(picked['adm_day_of_week'])} AS INTEGER) AS adm_day_of_week, "
            f"{_text(picked['sex'])} AS sex, {_text(picked['race'])} AS race, "
            f"list_filter({dx}, d -> d IS NOT NULL) AS diagnosis, {_place_sql()} FROM {schema}.{table}"
        )
    body = " UNION ALL ".join(selects) or (
        "SELECT NULL::VARCHAR AS source_table, NULL::VARCHAR AS source_file, NULL::BIGINT AS record_number, "
        "NULL::VARCHAR AS bene_id, NULL::VARCHAR AS medpar_id, NULL::INTEGER AS year, NULL::DATE AS admission_date, "
        "NULL::DATE AS discharge_date, NULL::INTEGER AS adm_day_of_week, NULL::VARCHAR AS sex, NULL::VARCHAR AS race, "
        "NULL::VARCHAR[] AS diagnosis, NULL::VARCHAR AS ssa2, NULL::INTEGER AS zip, NULL::INTEGER AS zip4 WHERE false"
    )
    conn.execute(
        f"""
        CREATE OR REPLACE VIEW {schema}.adm AS
        SELECT a.*, s.state AS state, s.fips2
        FROM ({body}) a LEFT JOIN {schema}.ssa_states s USING (ssa2)
        """
    )
    return len(selects)


# What the beneficiaries table's columns mean (the UI's column schema).
BENEFICIARY_COLUMNS = {
    "bene_id": "the beneficiary's encrypted ResDAC id",
    "dob": "date of birth: the earliest the enrollment records give",
    "dob_latest": "the latest date of birth given, when the records disagree (else null)",
    "dod": "date of death: the latest the enrollment records give",
    "dod_earliest": "the earliest date of death given, when the records disagree (else null)",
    "sex": "sex codes the records give, comma-separated (more than one: they disagree)",
    "race": "race codes the records give, comma-separated",
    "rti_race": "RTI race codes the records give, comma-separated",
    "duplicates": "the most distinct values any of dob, dod, sex, race, rti_race takes (1: consistent)",
    "records": "enrollment records of the beneficiary",
}


def build_beneficiaries(conn: Any, schema: str) -> None:
    """One row per ``bene_id``: earliest DOB, latest DOD, lists where race/sex disagree, and how much they do."""
    conn.execute(
        f"""
        CREATE OR REPLACE TABLE {schema}.beneficiaries AS
        SELECT bene_id,
               min(dob) AS dob,
               CASE WHEN count(DISTINCT dob) > 1 THEN max(dob) END AS dob_latest,
               max(dod) AS dod,
               CASE WHEN count(DISTINCT dod) > 1 THEN min(dod) END AS dod_earliest,
               string_agg(DISTINCT sex, ',' ORDER BY sex) AS sex,
               string_agg(DISTINCT race, ',' ORDER BY race) AS race,
               string_agg(DISTINCT rti_race, ',' ORDER BY rti_race) AS rti_race,
               greatest(count(DISTINCT dob), count(DISTINCT dod), count(DISTINCT sex), count(DISTINCT race),
                        count(DISTINCT rti_race)) AS duplicates,
               count(*) AS records
        FROM {schema}.ps WHERE bene_id IS NOT NULL GROUP BY bene_id
        """
    )


def build_enrollments(conn: Any, schema: str) -> None:
    """One row per beneficiary × year × state; address columns pick the latest value and list all of them."""
    conn.execute(
        f"""
        CREATE OR REPLACE TABLE {schema}.enrollments AS
        SELECT *, count(*) OVER (PARTITION BY bene_id, year) AS state_count FROM (
            SELECT bene_id, year, state, max(state) AS state_iso, max(fips2) AS fips2,
                   max(ssa2) AS ssa2, max(ssa3) AS ssa3,
                   string_agg(DISTINCT ssa2, ',' ORDER BY ssa2) AS ssa2_list,
                   string_agg(DISTINCT ssa3, ',' ORDER BY ssa3) AS ssa3_list,
                   max(fips3) AS fips3, max(fips2 || fips3) AS fips5,
                   max(fips2 || fips3) AS residence_county,
                   string_agg(DISTINCT fips2 || fips3, ',' ORDER BY fips2 || fips3) AS residence_counties,
                   max(zip) AS zip,
                   string_agg(DISTINCT CAST(zip AS VARCHAR), ',' ORDER BY CAST(zip AS VARCHAR)) AS zips,
                   bool_or(dod IS NOT NULL AND year(dod) = year) AS died,
                   max(hmo_cvg_count) AS hmo_cvg_count,
                   bool_or(fips3_is_approximated) AS fips3_is_approximated,
                   bool_and(fips3_validated) AS fips3_validated
            FROM {schema}.ps
            WHERE bene_id IS NOT NULL AND year IS NOT NULL AND state IS NOT NULL
            GROUP BY bene_id, year, state
        )
        """
    )


def build_admissions(conn: Any, schema: str) -> dict[str, int]:
    """Split the admissions view into ``admissions`` and ``admissions_audit`` (reason): every row in exactly one.

    Order of the checks: missing key fields (PRIMARY KEY), then no enrollment of the beneficiary in the admission's
    year (FOREIGN KEY), then repeats of one stay (same beneficiary, admission and discharge dates, state) of which
    the first by source table and record number is kept (DUPLICATE).
    """
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE classified AS
        SELECT a.*,
               CASE
                   WHEN a.bene_id IS NULL OR a.admission_date IS NULL OR a.discharge_date IS NULL OR a.state IS NULL
                       THEN 'PRIMARY KEY'
                   WHEN e.bene_id IS NULL THEN 'FOREIGN KEY'
                   WHEN row_number() OVER (
                       PARTITION BY a.bene_id, a.admission_date, a.discharge_date, a.state
                       ORDER BY a.source_table, a.record_number) > 1 THEN 'DUPLICATE'
                   ELSE 'OK'
               END AS reason
        FROM {schema}.adm a
        LEFT JOIN (SELECT DISTINCT bene_id, year FROM {schema}.enrollments) e
            ON e.bene_id = a.bene_id AND e.year = a.year
        """
    )
    conn.execute(
        f"CREATE OR REPLACE TABLE {schema}.admissions AS SELECT * EXCLUDE (reason) FROM classified WHERE reason = 'OK'"
    )
    conn.execute(f"CREATE OR REPLACE TABLE {schema}.admissions_audit AS SELECT * FROM classified WHERE reason <> 'OK'")
    counts = dict(conn.execute("SELECT reason, count(*) FROM classified GROUP BY reason").fetchall())
    conn.execute("DROP TABLE classified")
    return {reason: counts.get(reason, 0) for reason in ("OK", *AUDIT_REASONS)}


def counts_add_up(conn: Any, schema: str) -> tuple[bool, dict[str, int]]:
    """Every admissions-view row is in exactly one of ``admissions`` and ``admissions_audit``."""
    view, kept, audited, overlap = conn.execute(
        f"""
        SELECT (SELECT count(*) FROM {schema}.adm), (SELECT count(*) FROM {schema}.admissions),
               (SELECT count(*) FROM {schema}.admissions_audit),
               (SELECT count(*) FROM {schema}.admissions a JOIN {schema}.admissions_audit u
                    USING (source_table, record_number))
        """
    ).fetchone()
    return view == kept + audited and overlap == 0, {
        "view_rows": view,
        "admissions": kept,
        "audit": audited,
        "in_both": overlap,
    }

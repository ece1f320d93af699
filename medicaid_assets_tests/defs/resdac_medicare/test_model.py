"""The model on hand-made raw tables in a real DuckDB: conditioning, discrepancy fields, audit reasons, sketches."""

from datetime import date

import duckdb
import pytest

from medicaid_assets.defs.resdac_medicare import model, qc
from medicaid_assets.defs.resdac_medicare.raw import ensure_loads_table, uniform_columns

S = "resdac_medicare"


def _raw(conn, table: str, family: str, year: int, columns: dict[str, str], rows: list[tuple]) -> None:
    """A raw table as ingestion leaves it: source_file, record_number, uniform columns, then the delivered ones."""
    body = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    conn.execute(f"CREATE TEMP TABLE delivered ({body})")
    conn.executemany(f"INSERT INTO delivered VALUES ({', '.join('?' * len(columns))})", rows)
    renamed = ", ".join(
        f'"{c}" AS "{c}_raw"' if c in ("bene_id", "state", "zip", "year") else f'"{c}"' for c in columns
    )
    conn.execute(
        f"CREATE TABLE {S}.{table} AS SELECT source_file, record_number, {uniform_columns(dict.fromkeys(columns), year)}, "
        f"* EXCLUDE (source_file, record_number) FROM (SELECT '{table}.dat' AS source_file, "
        f"row_number() OVER () AS record_number, {renamed} FROM delivered)"
    )
    conn.execute("DROP TABLE delivered")
    conn.execute(f"INSERT INTO {S}.raw_loads VALUES (?, ?, ?, 'fixed', [], '', 0, now())", [table, family, year])


@pytest.fixture
def conn():
    with duckdb.connect() as c:
        ensure_loads_table(c, S)
        model.create_reference(c, S)
        yield c


MBSF = {
    "bene_id": "VARCHAR",
    "bene_enrollmt_ref_yr": "BIGINT",
    "state_code": "VARCHAR",
    "county_cd": "VARCHAR",
    "zip_cd": "VARCHAR",
    "bene_birth_dt": "VARCHAR",
    "bene_death_dt": "VARCHAR",
    "sex_ident_cd": "VARCHAR",
    "bene_race_cd": "VARCHAR",
}
DENOMINATOR = {
    "bene_id": "VARCHAR",
    "enrolyr": "DOUBLE",
    "state_cd": "VARCHAR",
    "bene_zip": "VARCHAR",
    "bene_dob": "DOUBLE",
    "sex": "VARCHAR",
    "race": "VARCHAR",
}


def _world(conn) -> None:
    # A: consistent; B: DOB differs between years and dies in 2015; C: sex and race disagree; D: moves state in 2015.
    _raw(conn, "raw_den_2010", "summary", 2010, DENOMINATOR, [
        ("A", 10.0, "05", "902101234", float((date(1940, 1, 2) - date(1960, 1, 1)).days), "1", "1"),
        ("B", 10.0, "33", "100010000", float((date(1935, 5, 5) - date(1960, 1, 1)).days), "2", "2"),
    ])  # fmt: skip
    _raw(conn, "raw_mbsf_2015", "summary", 2015, MBSF, [
        ("A", 2015, "05", "037", "90210", "19400102", None, "1", "1"),
        ("B", 2015, "33", "061", "10001", "19360505", "20150704", "2", "2"),
        ("C", 2015, "14", "031", "60601", "19500101", None, "1", "1"),
        ("C", 2015, "14", "031", "60601", "19500101", None, "2", "5"),
        ("D", 2015, "10", "086", "33101", "19450303", None, "1", "1"),
        ("D", 2015, "45", "201", "77001", "19450303", None, "1", "1"),
    ])  # fmt: skip
    _raw(conn, "raw_medpar_2015", "admissions", 2015, {
        "bene_id": "VARCHAR", "bene_rsdnc_ssa_state_cd": "VARCHAR", "bene_mlg_cntct_zip_cd": "VARCHAR",
        "admsn_dt": "VARCHAR", "dschrg_dt": "VARCHAR", "dgns_1_cd": "VARCHAR", "dgns_2_cd": "VARCHAR",
    }, [
        ("A", "05", "902101234", "20150301", "20150305", "I10", None),   # OK
        ("A", "05", "902101234", "20150301", "20150305", "I10", None),   # DUPLICATE of the one above
        (None, "05", "902101234", "20150301", "20150305", "I10", None),  # PRIMARY KEY: no beneficiary
        ("C", "14", "606010000", None, "20150305", "J189", "I10"),       # PRIMARY KEY: no admission date
        ("E", "05", "902100000", "20150601", "20150602", "I10", None),   # FOREIGN KEY: E never enrolled
        ("A", "05", "902101234", "20140301", "20140305", "I10", None),   # FOREIGN KEY: A not enrolled in 2014
        ("C", "14", "606010000", "20150401", "20150409", "J189", "I10"),  # OK, two diagnoses
    ])  # fmt: skip


def test_beneficiary_discrepancy_fields(conn):
    _world(conn)
    assert model.patient_summary_view(conn, S) == 2
    model.build_beneficiaries(conn, S)
    rows = {
        r[0]: r[1:]
        for r in conn.execute(
            f"SELECT bene_id, dob, dob_latest, dod, dod_earliest, sex, race, duplicates FROM {S}.beneficiaries"
        ).fetchall()
    }
    assert rows["A"] == (date(1940, 1, 2), None, None, None, "1", "1", 1)
    # SAS day numbers and CCYYMMDD text both became dates; the earliest DOB wins, the latest is kept beside it.
    assert rows["B"] == (date(1935, 5, 5), date(1936, 5, 5), date(2015, 7, 4), None, "2", "2", 2)
    assert rows["C"][4:] == ("1,2", "1,5", 2)


def test_enrollments_condition_years_zips_and_count_states(conn):
    _world(conn)
    model.patient_summary_view(conn, S)
    model.build_enrollments(conn, S)
    rows = conn.execute(
        f"SELECT bene_id, year, state, fips2, zip, zips, state_count, died FROM {S}.enrollments ORDER BY ALL"
    ).fetchall()
    assert ("A", 2010, "CA", "06", 90210, "90210", 1, False) in rows  # 2-digit year, 9-digit ZIP split
    assert ("B", 2015, "NY", "36", 10001, "10001", 1, True) in rows
    assert [r[2] for r in rows if r[0] == "D"] == ["FL", "TX"] and {r[6] for r in rows if r[0] == "D"} == {2}
    zip4 = conn.execute(f"SELECT zip, zip4 FROM {S}.ps WHERE bene_id = 'A' AND year = 2010").fetchall()
    assert zip4 == [(90210, 1234)]


def test_every_admission_ends_in_exactly_one_table_with_its_reason(conn):
    _world(conn)
    model.patient_summary_view(conn, S)
    model.build_enrollments(conn, S)
    model.admissions_view(conn, S)
    assert model.build_admissions(conn, S) == {"OK": 2, "PRIMARY KEY": 2, "FOREIGN KEY": 2, "DUPLICATE": 1}
    passed, counts = model.counts_add_up(conn, S)
    assert passed and counts == {"view_rows": 7, "admissions": 2, "audit": 5, "in_both": 0}
    audit = conn.execute(f"SELECT record_number, reason FROM {S}.admissions_audit ORDER BY 1").fetchall()
    assert audit == [(2, "DUPLICATE"), (3, "PRIMARY KEY"), (4, "PRIMARY KEY"), (5, "FOREIGN KEY"), (6, "FOREIGN KEY")]
    kept = conn.execute(f"SELECT bene_id, diagnosis, zip, zip4 FROM {S}.admissions ORDER BY record_number").fetchall()
    assert kept == [("A", ["I10"], 90210, 1234), ("C", ["J189", "I10"], 60601, 0)]


def test_sketch_union_equals_the_exact_distinct_count_within_the_hll_bound(conn):
    conn.execute(
        f"CREATE TABLE {S}.enrollments AS SELECT 'B' || (i % 30000) AS bene_id, 2010 + (i % 3) AS year, "
        "['CA', 'NY', 'TX', 'FL'][1 + i % 4] AS state, 90000 + i % 50 AS zip, '001' AS fips3, "
        "['CA', 'NY', 'TX', 'FL'][1 + i % 4] AS state_iso, false AS fips3_is_approximated, true AS fips3_validated "
        "FROM range(120000) t(i)"
    )
    conn.execute(
        f"CREATE TABLE {S}.beneficiaries AS SELECT DISTINCT bene_id, DATE '1940-01-01' AS dob, NULL::DATE AS "
        f"dob_latest, NULL::DATE AS dod, NULL::DATE AS dod_earliest, '1' AS sex, '1' AS race FROM {S}.enrollments"
    )
    groups = qc.build_qc_enrollments(conn, S)
    assert groups == conn.execute(f"SELECT count(DISTINCT (year, state, zip)) FROM {S}.enrollments").fetchone()[0]
    for by in (["year"], ["state"], ["year", "state"]):
        rolled = qc.rollup(conn, S, "qc_enrollments", by, deviations=3)
        exact = qc.exact_distinct(conn, S, "enrollments", by)
        assert rolled.keys() == exact.keys()
        for key, r in rolled.items():
            assert r["lower"] <= exact[key] <= r["upper"], (key, r, exact[key])
            assert abs(r["estimate"] - exact[key]) / exact[key] < 0.05
    total = qc.rollup(conn, S, "qc_enrollments", [], deviations=3)[()]
    assert total["lower"] <= 30000 <= total["upper"] and total["records"] == 120000

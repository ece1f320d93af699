"""QC tables with distinct beneficiaries as Apache DataSketches HLL sketches, and rollups that union them.

A QC row is one combination of the seed's dimensions with its record count, its distinct-beneficiary estimate and
the serialized sketch (``bene_hll``). Sketches are mergeable: a rollup by year or by state unions the rows' sketches
instead of rescanning enrollments, which is what makes the dashboards of the original (Superset over
``hll_union_agg``) cheap. The relative error at ``LG_K`` 12 is about 1.6% (one standard deviation).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import datasketches as ds
import pyarrow as pa

LG_K = 12

ENROLLMENT_DIMENSIONS = (
    "year",
    "state",
    "zip",
    "fips3",
    "consistent_dob",
    "consistent_dod",
    "consistent_sex",
    "consistent_race",
    "fips3_is_approximated",
    "fips3_validated",
    "state_iso",
)
ADMISSION_DIMENSIONS = ("year", "state", "zip", "reason", "state_iso")


def sketch_of(ids: Iterable[str | None]) -> ds.hll_sketch:
    sketch = ds.hll_sketch(LG_K)
    for bene in ids:
        if bene is not None:
            sketch.update(bene)
    return sketch


def union_estimate(serialized: Iterable[bytes | None], deviations: int = 2) -> tuple[float, float, float]:
    """Estimate, lower and upper bound (``deviations`` standard deviations, 1–3) of the union of sketches."""
    union = ds.hll_union(LG_K)
    for blob in serialized:
        if blob:
            union.update(ds.hll_sketch.deserialize(blob))
    return union.get_estimate(), union.get_lower_bound(deviations), union.get_upper_bound(deviations)


def _write_qc(conn: Any, schema: str, table: str, source_sql: str, dimensions: Sequence[str]) -> int:
    """Group ``source_sql`` by ``dimensions`` in DuckDB, sketch each group's beneficiaries, replace ``table``."""
    dims = ", ".join(dimensions)
    reader = conn.execute(
        f"SELECT {dims}, count(*) AS numrecords, list(bene_id) FILTER (WHERE bene_id IS NOT NULL) AS benes "
        f"FROM ({source_sql}) GROUP BY ALL"
    ).to_arrow_reader(50_000)
    batches = []
    for batch in reader:
        sketches = [sketch_of(ids or ()) for ids in batch.column("benes").to_pylist()]
        batches.append(
            pa.RecordBatch.from_arrays(
                [
                    *(batch.column(d) for d in dimensions),
                    batch.column("numrecords"),
                    pa.array([round(s.get_estimate()) for s in sketches], pa.int64()),
                    pa.array([s.serialize_compact() for s in sketches], pa.binary()),
                ],
                names=[*dimensions, "numrecords", "numdistinctbeneficiaries", "bene_hll"],
            )
        )
    rows = pa.Table.from_batches(batches) if batches else None
    conn.execute("BEGIN TRANSACTION")
    try:
        if rows is None:
            conn.execute(
                f"CREATE OR REPLACE TABLE {schema}.{table} AS SELECT {dims}, 0::BIGINT AS numrecords, "
                f"0::BIGINT AS numdistinctbeneficiaries, NULL::BLOB AS bene_hll FROM ({source_sql}) WHERE false"
            )
        else:
            conn.register("qc_rows", rows)
            conn.execute(f"CREATE OR REPLACE TABLE {schema}.{table} AS SELECT * FROM qc_rows")
            conn.unregister("qc_rows")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return 0 if rows is None else rows.num_rows


def build_qc_enrollments(conn: Any, schema: str) -> int:
    source = f"""
        SELECT e.bene_id, e.year, e.state, e.zip, e.fips3, e.state_iso, e.fips3_is_approximated, e.fips3_validated,
               CASE WHEN b.dob IS NULL THEN 'MISSING' WHEN b.dob_latest IS NOT NULL THEN 'AMBIGUOUS'
                    ELSE 'CONSISTENT' END AS consistent_dob,
               CASE WHEN b.dod IS NULL THEN 'NONE' WHEN b.dod_earliest IS NOT NULL THEN 'AMBIGUOUS'
                    ELSE 'CONSISTENT' END AS consistent_dod,
               CASE WHEN b.sex LIKE '%,%' THEN 'AMBIGUOUS' ELSE 'CONSISTENT' END AS consistent_sex,
               CASE WHEN b.race LIKE '%,%' THEN 'AMBIGUOUS' ELSE 'CONSISTENT' END AS consistent_race
        FROM {schema}.enrollments e JOIN {schema}.beneficiaries b USING (bene_id)
    """
    return _write_qc(conn, schema, "qc_enrollments", source, ENROLLMENT_DIMENSIONS)


def build_qc_admissions(conn: Any, schema: str) -> int:
    source = f"""
        SELECT bene_id, year, state, zip, 'OK' AS reason, state AS state_iso FROM {schema}.admissions
        UNION ALL
        SELECT bene_id, year, state, zip, reason, state AS state_iso FROM {schema}.admissions_audit
    """
    return _write_qc(conn, schema, "qc_admissions", source, ADMISSION_DIMENSIONS)


def rollup(conn: Any, schema: str, table: str, by: Sequence[str], deviations: int = 2) -> dict[tuple, dict[str, float]]:
    """Distinct beneficiaries and records per ``by`` key, from the QC table's sketches alone."""
    groups: dict[tuple, list[bytes]] = {}
    records: dict[tuple, int] = {}
    cols = ", ".join([*by, "numrecords", "bene_hll"])
    for *key, n, blob in conn.execute(f"SELECT {cols} FROM {schema}.{table}").fetchall():
        groups.setdefault(tuple(key), []).append(blob)
        records[tuple(key)] = records.get(tuple(key), 0) + n
    out = {}
    for key, blobs in sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        estimate, low, high = union_estimate(blobs, deviations)
        out[key] = {"records": records[key], "estimate": estimate, "lower": low, "upper": high}
    return out


def exact_distinct(conn: Any, schema: str, table: str, by: Sequence[str]) -> dict[tuple, int]:
    """The recount the sketches avoid: exact distinct beneficiaries per ``by`` key of a detail table."""
    cols = ", ".join(by)
    rows = conn.execute(f"SELECT {cols}, count(DISTINCT bene_id) FROM {schema}.{table} GROUP BY ALL").fetchall()
    return {tuple(r[:-1]): r[-1] for r in rows}

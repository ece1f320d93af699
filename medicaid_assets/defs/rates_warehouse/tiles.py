"""Tiles: ``fact_rate_enriched`` — the facts joined with their benchmarks — as Hive-partitioned ZSTD parquet (pure
SQL and one DuckDB ``COPY``; where they are stored and how a partition is replaced: ``resources.TilesResource``).

Layout ``payer=/state=/billing_class=/procedure_set=/procedure_class=/year=/month=/<file_key>_<i>.parquet`` (DuckDB
``COPY … PARTITION_BY``: values URL-escaped, a null as ``__HIVE_DEFAULT_PARTITION__``). Every file's name starts with
the price-transparency partition it came from, so one partition's tiles can be replaced alone.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

PARTITION_COLUMNS = ("payer", "state", "billing_class", "procedure_set", "procedure_class", "year", "month")
TILE_NAME = "fact_rate_enriched"


def enriched_sql(
    fact: str, codes: str | None, professional: str | None, opps: str | None, asc: str | None, wc: list[str]
) -> str:
    """The facts with procedure set/class, the Medicare amount of their setting in their state and the state's
    workers'-comp maximum, and the ratios to both. One row per fact row: every benchmark is reduced to one row per
    join key first. Professional rates compare with the PFS state average (non-facility; a ``26``/``TC`` rate with
    that modifier's row), institutional ones with the OPPS amount; ``medicare_asc_stateavg`` is there for ASC buyers."""
    none = "SELECT NULL::VARCHAR AS state, NULL::VARCHAR AS code, NULL::VARCHAR AS modifier, NULL::DOUBLE AS amount"
    prof = (
        f"""SELECT state, code, modifier, any_value(medicare_prof_stateavg_nonfacility)::DOUBLE AS amount,
                   any_value(medicare_prof_stateavg_facility)::DOUBLE AS facility
            FROM {professional} GROUP BY ALL"""
        if professional
        else f"SELECT *, NULL::DOUBLE AS facility FROM ({none}) WHERE false"
    )
    opps_sql = (
        f"SELECT state, code, any_value(medicare_opps_stateavg)::DOUBLE AS amount FROM {opps} GROUP BY ALL"
        if opps
        else "SELECT NULL::VARCHAR AS state, NULL::VARCHAR AS code, NULL::DOUBLE AS amount WHERE false"
    )
    asc_sql = (
        f"SELECT state, code, any_value(medicare_asc_stateavg)::DOUBLE AS amount FROM {asc} GROUP BY ALL"
        if asc
        else "SELECT NULL::VARCHAR AS state, NULL::VARCHAR AS code, NULL::DOUBLE AS amount WHERE false"
    )
    wc_union = " UNION ALL ".join(
        f"SELECT state, code, coalesce(modifier, '') AS modifier, setting, wc_max FROM {w}" for w in wc
    )
    wc_sql = (
        f"SELECT state, code, modifier, setting, min(wc_max)::DOUBLE AS amount FROM ({wc_union}) GROUP BY ALL"
        if wc
        else "SELECT NULL::VARCHAR AS state, NULL::VARCHAR AS code, NULL::VARCHAR AS modifier, "
        "NULL::VARCHAR AS setting, NULL::DOUBLE AS amount WHERE false"
    )
    code_sql = (
        f"SELECT code_type, code, any_value(procedure_set) AS procedure_set, "
        f"any_value(procedure_class) AS procedure_class FROM {codes} GROUP BY ALL"
        if codes
        else "SELECT NULL::VARCHAR AS code_type, NULL::VARCHAR AS code, NULL::VARCHAR AS procedure_set, "
        "NULL::VARCHAR AS procedure_class WHERE false"
    )
    return f"""
        WITH f AS (
            SELECT *, CASE WHEN modifiers IN ('26', 'TC') THEN modifiers ELSE '' END AS pfs_modifier,
                   CASE WHEN billing_class = 'institutional' THEN 'opps' ELSE 'professional' END AS wc_setting
            FROM {fact}
        )
        SELECT f.payer_slug AS payer, f.state, f.billing_class,
               coalesce(c.procedure_set, 'Unknown') AS procedure_set,
               coalesce(c.procedure_class, 'Unknown') AS procedure_class, f.year, f.month,
               f.fact_uid, f.payer_slug, f.code_type, f.code, c.code IS NOT NULL AS in_dim_code, f.modifiers, f.negotiated_type, f.negotiated_rate,
               f.pg_uid, f.pos_set_id, f.setting, f.expiration_date, f.last_updated_date,
               p.amount AS medicare_prof_stateavg, p.facility AS medicare_prof_stateavg_facility,
               o.amount AS medicare_opps_stateavg, a.amount AS medicare_asc_stateavg,
               CASE WHEN f.billing_class = 'institutional' THEN o.amount ELSE p.amount END AS medicare_rate,
               f.negotiated_rate / nullif(medicare_rate, 0) AS rate_to_medicare,
               w.amount AS wc_max, f.negotiated_rate / nullif(w.amount, 0) AS rate_to_wc,
               f.file_key
        FROM f
        LEFT JOIN ({code_sql}) c ON c.code_type = f.code_type AND c.code = f.code
        LEFT JOIN ({prof}) p ON p.state = f.state AND p.code = f.code AND p.modifier = f.pfs_modifier
        LEFT JOIN ({opps_sql}) o ON o.state = f.state AND o.code = f.code
        LEFT JOIN ({asc_sql}) a ON a.state = f.state AND a.code = f.code
        LEFT JOIN ({wc_sql}) w ON w.state = f.state AND w.code = f.code AND w.modifier = f.pfs_modifier
            AND w.setting = f.wc_setting
    """


def copy_tiles(conn: duckdb.DuckDBPyConnection, sql: str, dest: Path, file_key: str) -> int:
    """``COPY (sql) TO dest PARTITION_BY (…)`` as ZSTD parquet named ``<file_key>_<i>.parquet``; the rows written."""
    cols = ", ".join(PARTITION_COLUMNS)
    row = conn.execute(
        f"COPY ({sql}) TO '{dest}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({cols}), "
        f"FILENAME_PATTERN '{file_key}_{{i}}', OVERWRITE_OR_IGNORE)"
    ).fetchone()
    return int(row[0]) if row else 0

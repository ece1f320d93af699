"""``code_price_comparison``: one price, four payers — per code × state × year, what Medicaid paid per claim, what
commercial plans negotiated (median and spread across payers and provider groups), the Medicare amount and the
state's workers'-comp maximum, each with its count and source (pure SQL, no Dagster).

Years are each source's own: Medicaid claims by claim year, negotiated rates by their file's year; Medicare (the
PFS release the benchmark holds) and workers' comp (the state's current schedule) are attached to every year of a
code × state and name their release in ``*_source``. Only the global service (no modifier) is compared: a
``26``/``TC`` rate or a modifier-specific maximum is a different service.
"""

from __future__ import annotations

NO_MEDICAID = (
    "SELECT NULL::VARCHAR AS code, NULL::VARCHAR AS state, NULL::BIGINT AS year, NULL::BIGINT AS medicaid_rows, "
    "NULL::DOUBLE AS medicaid_claims, NULL::DOUBLE AS medicaid_paid WHERE false"
)


def medicaid_sql(spending_enriched: str) -> str:
    """Medicaid claims and paid per code × billing state × claim year."""
    return f"""
        SELECT trim(hcpcs_code) AS code, billing_state AS state, year(claim_month)::BIGINT AS year,
               count(*) AS medicaid_rows, sum(claims)::DOUBLE AS medicaid_claims, sum(paid)::DOUBLE AS medicaid_paid
        FROM {spending_enriched} WHERE billing_state IS NOT NULL GROUP BY ALL HAVING sum(claims) > 0
    """


def comparison_sql(fact: str, medicaid: str, professional: str | None, wc: list[str]) -> str:
    """One row per code × state × year present in Medicaid spending or in the negotiated rates."""
    prof = (
        f"""SELECT code, state, any_value(medicare_prof_stateavg_nonfacility)::DOUBLE AS medicare_amount,
                   count(DISTINCT (carrier, locality)) AS medicare_localities, any_value(release) AS release
            FROM {professional} WHERE modifier = '' GROUP BY ALL"""
        if professional
        else "SELECT NULL::VARCHAR AS code, NULL::VARCHAR AS state, NULL::DOUBLE AS medicare_amount, "
        "NULL::BIGINT AS medicare_localities, NULL::VARCHAR AS release WHERE false"
    )
    wc_union = " UNION ALL ".join(
        f"SELECT state, code, setting, wc_max, schedule_year FROM {w} WHERE coalesce(modifier, '') = ''" for w in wc
    )
    wc_sql = (
        f"""SELECT state, code, max(wc_max) FILTER (WHERE setting = 'professional')::DOUBLE AS wc_max,
                   count(*) FILTER (WHERE setting = 'professional') AS wc_rows, max(schedule_year) AS schedule_year
            FROM ({wc_union}) GROUP BY ALL"""
        if wc
        else "SELECT NULL::VARCHAR AS state, NULL::VARCHAR AS code, NULL::DOUBLE AS wc_max, NULL::BIGINT AS wc_rows, "
        "NULL::INTEGER AS schedule_year WHERE false"
    )
    return f"""
        WITH commercial AS (
            SELECT code, state, year::BIGINT AS year, median(negotiated_rate) AS commercial_median,
                   quantile_cont(negotiated_rate, 0.1) AS commercial_p10,
                   quantile_cont(negotiated_rate, 0.9) AS commercial_p90,
                   min(negotiated_rate) AS commercial_min, max(negotiated_rate) AS commercial_max,
                   count(*) AS commercial_rates, count(DISTINCT payer_slug) AS commercial_payers,
                   count(DISTINCT pg_uid) AS commercial_provider_groups
            FROM {fact}
            WHERE state IS NOT NULL AND year IS NOT NULL AND modifiers = '' AND negotiated_type = 'negotiated'
                  AND negotiated_rate > 0
            GROUP BY ALL
        ), medicaid AS ({medicaid}),
        keys AS (SELECT code, state, year FROM commercial UNION SELECT code, state, year FROM medicaid)
        SELECT k.code, k.state, k.year,
               round(m.medicaid_paid / m.medicaid_claims, 2) AS medicaid_paid_per_claim,
               m.medicaid_claims::BIGINT AS medicaid_claims,
               CASE WHEN m.code IS NOT NULL THEN 'T-MSIS Medicaid provider spending (marts/spending_enriched)' END
                   AS medicaid_source,
               c.commercial_median, c.commercial_p10, c.commercial_p90, c.commercial_min, c.commercial_max,
               c.commercial_rates, c.commercial_payers, c.commercial_provider_groups,
               CASE WHEN c.code IS NOT NULL THEN 'TiC in-network files (rates_warehouse/fact_rate)' END
                   AS commercial_source,
               p.medicare_amount, p.medicare_localities,
               CASE WHEN p.code IS NOT NULL THEN 'PFS ' || p.release || ', non-facility, mean of the state''s '
                   || 'localities' END AS medicare_source,
               w.wc_max, w.wc_rows,
               CASE WHEN w.code IS NOT NULL THEN k.state || ' workers'' comp fee schedule ' || w.schedule_year
                   || ', professional' END AS wc_source,
               round(c.commercial_median / nullif(p.medicare_amount, 0), 3) AS commercial_to_medicare,
               round(m.medicaid_paid / m.medicaid_claims / nullif(p.medicare_amount, 0), 3) AS medicaid_to_medicare
        FROM keys k
        LEFT JOIN commercial c USING (code, state, year)
        LEFT JOIN medicaid m USING (code, state, year)
        LEFT JOIN ({prof}) p ON p.code = k.code AND p.state = k.state
        LEFT JOIN ({wc_sql}) w ON w.code = k.code AND w.state = k.state
        ORDER BY coalesce(c.commercial_rates, 0) + coalesce(m.medicaid_claims, 0) DESC, k.code, k.state, k.year
    """

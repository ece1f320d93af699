"""One chart per mart, for its asset page: what each mart answers, drawn from the built table.

Each entry is ``mart -> (title, SQL giving (panel, label, value) rows)``; the picture is the platform's labelled
bar panels (:func:`dagster_kit.charts.category_counts_png`), one panel per ``panel`` value.
"""

from __future__ import annotations

from typing import Any

from medicaid_assets.dagster_kit.charts import category_counts_png, image_metadata
from medicaid_assets.defs.synthetic_medicare.keys import SCHEMA

MART_CHARTS: dict[str, tuple[str, str]] = {
    "mart_demographics": (
        "Beneficiaries by state (latest year) and by year",
        f"""SELECT 'by state, ' || max(year) OVER () AS panel, state AS label, beneficiaries AS value
            FROM (SELECT year, state, sum(beneficiaries) AS beneficiaries FROM {SCHEMA}.mart_demographics GROUP BY ALL)
            QUALIFY year = max(year) OVER ()
            UNION ALL
            SELECT 'by year', year::VARCHAR, sum(beneficiaries) FROM {SCHEMA}.mart_demographics GROUP BY ALL""",
    ),
    "mart_utilization": (
        "Claims per 1,000 beneficiaries per year, by claim type (claims deduplicated to CLM_ID)",
        f"""SELECT 'per 1,000 per year' AS panel, claim_type AS label,
                   round(1000.0 * sum(claims) / sum(DISTINCT beneficiaries)) AS value
            FROM {SCHEMA}.mart_utilization GROUP BY ALL ORDER BY value DESC""",
    ),
    "mart_cost_per_beneficiary": (
        "Paid per beneficiary ($, all years) by category and by region",
        f"""SELECT 'by category' AS panel, category AS label,
                   round(sum(paid_amt) / (SELECT sum(beneficiaries) FROM (SELECT DISTINCT year, region, beneficiaries
                       FROM {SCHEMA}.mart_cost_per_beneficiary))) AS value
            FROM {SCHEMA}.mart_cost_per_beneficiary GROUP BY ALL
            UNION ALL
            SELECT 'by region', region, round(sum(paid_amt) / any_value(total)) FROM (
                SELECT c.*, sum(beneficiaries) OVER (PARTITION BY region) / count(*) OVER (PARTITION BY region, year)
                       AS total FROM {SCHEMA}.mart_cost_per_beneficiary c) GROUP BY ALL""",
    ),
    "mart_diabetes": (
        "Diabetes worked example (all years): paid per beneficiary ($) and claims per 1,000, with vs without",
        f"""SELECT 'paid per beneficiary' AS panel, CASE WHEN has_diabetes THEN 'diabetes' ELSE 'no diabetes' END AS label,
                   round(sum(paid_per_beneficiary * beneficiaries) / sum(beneficiaries)) AS value
            FROM {SCHEMA}.mart_diabetes GROUP BY ALL
            UNION ALL
            SELECT 'claims per 1,000', CASE WHEN has_diabetes THEN 'diabetes' ELSE 'no diabetes' END,
                   round(sum(claims_per_1000 * beneficiaries) / sum(beneficiaries))
            FROM {SCHEMA}.mart_diabetes GROUP BY ALL""",
    ),
    "mart_prescriptions": (
        "Part D fills and cost ($), brand vs generic, all years",
        f"""SELECT 'fills' AS panel, brand_generic AS label, sum(fills) AS value
            FROM {SCHEMA}.mart_prescriptions GROUP BY ALL
            UNION ALL
            SELECT 'cost', brand_generic, round(sum(total_cost_amt)) FROM {SCHEMA}.mart_prescriptions GROUP BY ALL""",
    ),
    "mart_provider_outliers": (
        "SCREENING DEMO on synthetic data: providers by screening flag, per claim type",
        f"""SELECT CASE WHEN screening_flag THEN 'flagged' ELSE 'not flagged' END AS panel, claim_type AS label,
                   count(*) AS value
            FROM {SCHEMA}.mart_provider_outliers GROUP BY ALL ORDER BY panel, label""",
    ),
}


def mart_chart(conn: Any, mart: str) -> dict[str, Any]:
    """The chart metadata of ``mart`` (empty for a model without one)."""
    if mart not in MART_CHARTS:
        return {}
    title, sql = MART_CHARTS[mart]
    groups: dict[str, dict[str, int]] = {}
    for panel, label, value in conn.execute(sql).fetchall():
        groups.setdefault(str(panel), {})[str(label)] = int(value or 0)
    return {"chart": image_metadata(category_counts_png(groups, title), title)}

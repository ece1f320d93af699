"""Quality measured per in-network file (never asserted constants): the ``files`` row and the asset checks.

Measured over the staged rows of the file, with DuckDB: completeness of each required rate field, the share of
rates whose provider never resolved, NPIs failing the check digit, billing-code types outside the schema's list,
non-positive or absurd rates, and reference files that failed. A file missing what the schema requires of every
in-network file blocks; the rest warn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pyarrow as pa

from medicaid_assets.defs.price_transparency.catalog import Payer
from medicaid_assets.defs.price_transparency.ids import file_id
from medicaid_assets.defs.price_transparency.keys import FILE_KEY, FILES, PAYER_KEY, RATES
from medicaid_assets.defs.price_transparency.normalize import FileSummary, parse_date
from medicaid_assets.defs.price_transparency.toc import ListedFile

REQUIRED_RATE_FIELDS = ("billing_code", "billing_code_type", "negotiated_type", "negotiated_rate", "expiration_date")
REQUIRED_ROOT_FIELDS = ("reporting_entity_name", "reporting_entity_type", "last_updated_on", "version")
# billing_code_type values of the CMS schema (v1 and v2)
CODE_TYPES = (
    "CPT", "NDC", "HCPCS", "RC", "ICD", "MS-DRG", "R-DRG", "S-DRG", "APS-DRG", "AP-DRG", "APR-DRG", "APC", "LOCAL",
    "EAPG", "HIPPS", "CDT", "CSTM-ALL",
)  # fmt: skip
ABSURD_RATE = 10_000_000.0  # more than any single negotiated price in the real files we have seen
WARN_UNRESOLVED, WARN_BAD_NPI = 0.05, 0.01

FILES_SCHEMA = pa.schema(
    [
        (FILE_KEY, pa.string()),
        (PAYER_KEY, pa.string()),
        ("file_id", pa.string()),
        ("url", pa.string()),
        ("container", pa.string()),
        ("bytes_downloaded", pa.int64()),
        ("bytes_json", pa.int64()),
        ("version", pa.string()),
        ("reporting_entity_name", pa.string()),
        ("reporting_entity_type", pa.string()),
        ("last_updated_on", pa.string()),
        ("last_updated_date", pa.date32()),
        ("items", pa.int64()),
        ("items_kept", pa.int64()),
        ("rates_kept", pa.int64()),  # negotiated prices in kept items (before expansion to provider groups)
        ("rates_dropped", pa.int64()),  # negotiated prices in items the whitelist dropped
        ("rate_rows", pa.int64()),
        ("provider_references", pa.int64()),
        ("remote_references", pa.int64()),
        ("remote_failed", pa.int64()),
        ("refs_after_in_network", pa.bool_()),
        ("whitelist", pa.string()),
        ("handler", pa.string()),
        ("duration_s", pa.float64()),
        ("mb_per_s", pa.float64()),
        ("errors", pa.string()),  # JSON list of {provider_group_id, url, error}
        ("missing_root_fields", pa.string()),
        *[(f"complete_{f}", pa.float64()) for f in REQUIRED_RATE_FIELDS],
        ("share_unresolved_provider", pa.float64()),
        ("providers", pa.int64()),
        ("npi_invalid", pa.int64()),
        ("unknown_code_types", pa.int64()),
        ("nonpositive_rates", pa.int64()),
        ("absurd_rates", pa.int64()),
        ("read_at", pa.timestamp("us", tz="UTC")),
    ]
)

QUALITY_CHECKS = [
    dg.AssetCheckSpec(
        "schema_valid",
        asset=FILES,
        blocking=True,
        description="The file has the root fields every in-network file must have (reporting entity, date, version).",
    ),
    dg.AssetCheckSpec(
        "providers_resolved",
        asset=RATES,
        description=f"Share of rate rows whose provider group never resolved (warns above {WARN_UNRESOLVED:.0%}).",
    ),
    dg.AssetCheckSpec(
        "npi_check_digits",
        asset=RATES,
        description=f"Share of NPIs failing the check digit (warns above {WARN_BAD_NPI:.0%}).",
    ),
    dg.AssetCheckSpec("code_types", asset=RATES, description="Rates whose billing_code_type is not in the schema."),
    dg.AssetCheckSpec(
        "rate_values", asset=RATES, description=f"Non-positive rates and rates above {ABSURD_RATE:,.0f} (warns)."
    ),
]


def file_row(
    tables: Mapping[str, str],
    key: str,
    payer: Payer,
    entry: ListedFile,
    summary: FileSummary,
    container: str,
    downloaded: int,
    suffix: str,
) -> tuple[dict[str, object], list[dg.AssetCheckResult]]:
    """The ``files`` row of one file and its check results, measured over its staged tables (a query each)."""
    rates, providers = f"({tables['rates']})", f"({tables['providers']})"
    types = ", ".join(f"'{t}'" for t in CODE_TYPES)
    complete = ", ".join(f"avg(({f} IS NOT NULL)::INT)" for f in REQUIRED_RATE_FIELDS)
    with duckdb.connect() as conn:
        stats = conn.execute(
            f"""SELECT count(*), {complete}, avg((provider_group_uuid IS NULL)::INT),
                       count(*) FILTER (WHERE upper(billing_code_type) NOT IN ({types})),
                       count(*) FILTER (WHERE negotiated_rate <= 0),
                       count(*) FILTER (WHERE negotiated_rate > {ABSURD_RATE})
                FROM {rates}"""
        ).fetchone()
        n_prov, bad_npi = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE NOT npi_valid AND npi <> '0') FROM {providers}"
        ).fetchone()
    n = stats[0]
    completeness = dict(zip(REQUIRED_RATE_FIELDS, stats[1 : 1 + len(REQUIRED_RATE_FIELDS)], strict=True))
    unresolved, unknown_types, nonpositive, absurd = stats[1 + len(REQUIRED_RATE_FIELDS) :]
    header = summary.header
    missing = [f for f in REQUIRED_ROOT_FIELDS if not header.get(f)]
    row: dict[str, object] = {
        FILE_KEY: key,
        PAYER_KEY: payer.name,
        "file_id": file_id(payer.name, entry.url),
        "url": entry.url.split("?", 1)[0],
        "container": container,
        "bytes_downloaded": downloaded,
        "bytes_json": summary.bytes_json,
        "version": header.get("version"),
        "reporting_entity_name": header.get("reporting_entity_name"),
        "reporting_entity_type": header.get("reporting_entity_type"),
        "last_updated_on": header.get("last_updated_on"),
        "last_updated_date": parse_date(header.get("last_updated_on")),  # type: ignore[arg-type]
        "items": summary.items,
        "items_kept": summary.items_kept,
        "rates_kept": summary.prices_kept,
        "rates_dropped": summary.prices_dropped,
        "rate_rows": summary.rate_rows,
        "provider_references": summary.provider_references,
        "remote_references": summary.remote_references,
        "remote_failed": summary.remote_failed,
        "refs_after_in_network": summary.refs_after_in_network,
        "whitelist": payer.whitelist,
        "handler": payer.handler,
        "duration_s": summary.duration_s,
        "mb_per_s": summary.bytes_json / 1e6 / summary.duration_s if summary.duration_s else None,
        "errors": json.dumps(summary.reference_errors[:1000]),
        "missing_root_fields": ",".join(missing),
        **{f"complete_{f}": completeness[f] for f in REQUIRED_RATE_FIELDS},
        "share_unresolved_provider": unresolved,
        "providers": n_prov,
        "npi_invalid": bad_npi,
        "unknown_code_types": unknown_types,
        "nonpositive_rates": nonpositive,
        "absurd_rates": absurd,
        "read_at": datetime.now(UTC),
    }
    warn = dg.AssetCheckSeverity.WARN
    bad_share = bad_npi / n_prov if n_prov else 0.0
    checks = [
        dg.AssetCheckResult(
            check_name="schema_valid",
            asset_key=FILES,
            passed=not missing,
            metadata={"missing_root_fields": ", ".join(missing) or "none", "suffix": suffix},
        ),
        dg.AssetCheckResult(
            check_name="providers_resolved",
            asset_key=RATES,
            passed=(unresolved or 0.0) <= WARN_UNRESOLVED,
            severity=warn,
            metadata={
                "share_unresolved": float(unresolved or 0.0),
                "rate_rows": n,
                "remote_failed": summary.remote_failed,
            },
        ),
        dg.AssetCheckResult(
            check_name="npi_check_digits",
            asset_key=RATES,
            passed=bad_share <= WARN_BAD_NPI,
            severity=warn,
            metadata={"npi_invalid": bad_npi, "providers": n_prov, "share": bad_share},
        ),
        dg.AssetCheckResult(
            check_name="code_types",
            asset_key=RATES,
            passed=unknown_types == 0,
            severity=warn,
            metadata={"unknown_code_types": unknown_types},
        ),
        dg.AssetCheckResult(
            check_name="rate_values",
            asset_key=RATES,
            passed=nonpositive == 0 and absurd == 0,
            severity=warn,
            metadata={"nonpositive": nonpositive, "absurd": absurd},
        ),
    ]
    return row, checks


# The per-payer quality table: what the files table measured, summed or averaged over each payer's files.
PAYER_QUALITY_SQL = f"""
SELECT {PAYER_KEY},
       count(*)::BIGINT AS files,
       sum(bytes_json)::BIGINT AS bytes_json,
       sum(items)::BIGINT AS items,
       sum(rate_rows)::BIGINT AS rate_rows,
       sum(rates_kept)::BIGINT AS rates_kept,
       sum(rates_dropped)::BIGINT AS rates_dropped,
       sum(remote_failed)::BIGINT AS remote_references_failed,
       sum(share_unresolved_provider * rate_rows) / nullif(sum(rate_rows), 0) AS share_unresolved_provider,
       coalesce(sum(round(share_unresolved_provider * rate_rows)), 0)::BIGINT AS rate_rows_unresolved,
       sum(npi_invalid)::BIGINT AS npi_invalid,
       sum(providers)::BIGINT AS providers,
       sum(unknown_code_types)::BIGINT AS unknown_code_types,
       sum(nonpositive_rates)::BIGINT AS nonpositive_rates,
       sum(absurd_rates)::BIGINT AS absurd_rates,
       count(*) FILTER (WHERE missing_root_fields <> '')::BIGINT AS schema_invalid_files,
       {", ".join(f"min(complete_{f}) AS min_complete_{f}" for f in REQUIRED_RATE_FIELDS)},
       max(read_at) AS last_read_at
FROM value_files GROUP BY {PAYER_KEY} ORDER BY {PAYER_KEY}
"""

"""The star schema as DuckDB SQL over the price-transparency tables (pure: strings in, a SELECT out, no Dagster).

Each builder takes the FROM items of its sources (a table name, ``read_parquet(...)`` or a parenthesized query, as
the IO manager hands them over) so the same SQL runs in the warehouse or over parquet files. Names and columns are
the original tool's (``workcomp-rates-etl``), so its example queries run unchanged; ids are its UUIDv5 recipes
where the price-transparency family already computes them (``pg_uid`` = ``provider_group_uuid``) and an md5 of the
sorted place-of-service codes for ``pos_set_id`` (a set, so its order in the file does not matter).
"""

from __future__ import annotations


def source(sql: str) -> str:
    """A stored value's SELECT as a FROM item."""
    return f"({sql})"


CODE_TYPE_SQL = "CASE WHEN regexp_matches({c}, '^[0-9]') THEN 'CPT' ELSE 'HCPCS' END"
POS_SET_SQL = "md5(array_to_string(list_sort(list_distinct(coalesce(service_codes, []))), ','))"


def bench_medicare_professional_sql(amounts: str, state_amounts: str) -> str:
    """One row per paid code × modifier × carrier/locality with the state's average and the national amount."""
    code_type = CODE_TYPE_SQL.format(c="a.hcpcs_code")
    return f"""
        SELECT a.state, a.carrier, a.locality, a.locality_name, {code_type} AS code_type, a.hcpcs_code AS code,
               a.modifier, a.status,
               a.non_facility_amount AS medicare_prof_nonfacility, a.facility_amount AS medicare_prof_facility,
               s.non_facility_amount AS medicare_prof_stateavg_nonfacility,
               s.facility_amount AS medicare_prof_stateavg_facility,
               n.non_facility_amount AS medicare_prof_national_nonfacility,
               n.facility_amount AS medicare_prof_national_facility,
               a.opps_capped, a.release
        FROM {amounts} a
        LEFT JOIN {state_amounts} s
          ON s.release = a.release AND s.hcpcs_code = a.hcpcs_code AND s.modifier = a.modifier AND s.state = a.state
        LEFT JOIN {state_amounts} n
          ON n.release = a.release AND n.hcpcs_code = a.hcpcs_code AND n.modifier = a.modifier AND n.state = 'US'
    """


def group_state_sql(providers: str, addresses: str | None) -> str:
    """Each provider group's state: the practice-location state most of its NPIs have in NPPES (ties: the first
    alphabetically); no row for a group none of whose NPIs is known."""
    if addresses is None:
        return "SELECT NULL::VARCHAR AS pg_uid, NULL::VARCHAR AS state WHERE false"
    return f"""
        SELECT pg_uid, state FROM (
            SELECT p.provider_group_uuid AS pg_uid, a.state,
                   row_number() OVER (PARTITION BY p.provider_group_uuid ORDER BY count(*) DESC, a.state) AS rank
            FROM (SELECT DISTINCT provider_group_uuid, npi FROM {providers}) p
            JOIN {addresses} a ON a.npi = p.npi AND a.address_purpose = 'LOCATION' AND a.state IS NOT NULL
            GROUP BY p.provider_group_uuid, a.state
        ) WHERE rank = 1
    """


def fact_rate_sql(rates: str, files: str, group_states: str) -> str:
    """One row per rate row of the file: payer × code × provider group × price and setting, with its state and the
    file's date (``year``/``month`` from the file's ``last_updated_on``). Payers label CPT codes ``HCPCS`` and the
    reverse; ``code_type`` of either is the code's shape, as in dim_code (a digit first: CPT), so joins on it hold."""
    return f"""
        SELECT md5(concat_ws('|', r.file_key, r.item_index, r.rate_uuid, r.provider_group_uuid, r.billing_class,
                             r.negotiated_type, r.negotiated_rate, {POS_SET_SQL.replace("service_codes", "r.service_codes")},
                             array_to_string(r.billing_code_modifiers, ','))) AS fact_uid,
               r.rate_uuid, r.payer AS payer_slug, r.payer_uuid, g.state, r.billing_class, r.setting,
               CASE WHEN upper(r.billing_code_type) IN ('CPT', 'HCPCS')
                    THEN {CODE_TYPE_SQL.format(c="r.billing_code")} ELSE upper(r.billing_code_type) END AS code_type,
               r.billing_code AS code,
               array_to_string(list_sort(coalesce(r.billing_code_modifiers, [])), ',') AS modifiers,
               r.negotiated_rate, r.negotiated_type, r.negotiation_arrangement,
               r.provider_group_uuid AS pg_uid, {POS_SET_SQL.replace("service_codes", "r.service_codes")} AS pos_set_id,
               r.organization_uuid, r.tin_type, r.tin_value, r.npi_count,
               try_strptime(r.expiration_date, '%Y-%m-%d')::DATE AS expiration_date,
               f.last_updated_date, year(f.last_updated_date) AS year, month(f.last_updated_date) AS month,
               r.file_key
        FROM {rates} r
        LEFT JOIN (SELECT file_key, any_value(last_updated_date) AS last_updated_date FROM {files} GROUP BY 1) f
          USING (file_key)
        LEFT JOIN ({group_states}) g ON g.pg_uid = r.provider_group_uuid
    """


def dim_payer_sql(rates: str, files: str) -> str:
    """One row per payer: its slug, UUIDv5, the reporting entity its newest file names, files and rate rows."""
    return f"""
        WITH newest AS (
            SELECT payer, arg_max(reporting_entity_name, coalesce(last_updated_date, DATE '1900-01-01'))
                       AS reporting_entity_name,
                   arg_max(reporting_entity_type, coalesce(last_updated_date, DATE '1900-01-01'))
                       AS reporting_entity_type,
                   count(*) AS files, max(last_updated_date) AS last_updated_date
            FROM {files} GROUP BY payer
        )
        SELECT r.payer AS payer_slug, any_value(r.payer_uuid) AS payer_uuid, n.reporting_entity_name,
               n.reporting_entity_type, n.files, n.last_updated_date, count(*) AS rate_rows
        FROM {rates} r LEFT JOIN newest n ON n.payer = r.payer
        GROUP BY r.payer, n.reporting_entity_name, n.reporting_entity_type, n.files, n.last_updated_date
        ORDER BY payer_slug
    """


def dim_pos_set_sql(rates: str) -> str:
    """One row per distinct set of place-of-service codes (an empty set: the file named none, i.e. any place)."""
    return f"""
        SELECT {POS_SET_SQL} AS pos_set_id,
               any_value(list_sort(list_distinct(coalesce(service_codes, [])))) AS pos_members,
               len(any_value(list_distinct(coalesce(service_codes, [])))) AS pos_count
        FROM {rates} GROUP BY 1 ORDER BY pos_count, pos_set_id
    """


def dim_provider_group_sql(rates: str) -> str:
    """One row per provider group (the same TIN and NPIs in any file or payer share a ``pg_uid``)."""
    return f"""
        SELECT provider_group_uuid AS pg_uid, min(provider_group_ref) AS provider_group_id_raw,
               any_value(organization_uuid) AS organization_uuid, any_value(tin_type) AS tin_type,
               any_value(tin_value) AS tin_value, max(npi_count) AS npi_count,
               list_sort(list_distinct(list(payer))) AS payers, count(*) AS rate_rows
        FROM {rates} WHERE provider_group_uuid IS NOT NULL
        GROUP BY provider_group_uuid ORDER BY pg_uid
    """


def xref_pg_member_npi_sql(providers: str) -> str:
    """Provider group → member NPI, one row each, with the NPI's check-digit verdict."""
    return f"""
        SELECT provider_group_uuid AS pg_uid, npi, bool_and(npi_valid) AS npi_valid
        FROM {providers} WHERE provider_group_uuid IS NOT NULL
        GROUP BY ALL ORDER BY pg_uid, npi
    """


def xref_pg_member_tin_sql(providers: str) -> str:
    """Provider group → its TIN (EIN or an individual's NPI as TIN), one row each."""
    return f"""
        SELECT DISTINCT provider_group_uuid AS pg_uid, tin_type, tin_value
        FROM {providers} WHERE provider_group_uuid IS NOT NULL AND tin_value IS NOT NULL
        ORDER BY pg_uid, tin_type, tin_value
    """

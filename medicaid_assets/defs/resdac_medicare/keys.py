"""What other families may use of ResDAC Medicare: asset keys, the group, the schema and table names, partitions."""

import dagster as dg

GROUP = "resdac_medicare"
SCHEMA = "resdac_medicare"  # the family's DuckDB schema (and PostgreSQL schema when exported)

RAW = dg.AssetKey(["raw", "resdac_medicare"])
BENEFICIARIES = dg.AssetKey(["warehouse", "resdac_medicare", "beneficiaries"])
ENROLLMENTS = dg.AssetKey(["warehouse", "resdac_medicare", "enrollments"])
ADMISSIONS = dg.AssetKey(["warehouse", "resdac_medicare", "admissions"])
AUDIT = dg.AssetKey(["warehouse", "resdac_medicare", "admissions_audit"])
QC_ENROLLMENTS = dg.AssetKey(["qc", "resdac_medicare", "enrollments"])
QC_ADMISSIONS = dg.AssetKey(["qc", "resdac_medicare", "admissions"])
POSTGRES = dg.AssetKey(["export", "resdac_medicare_postgres"])

TABLES = ("beneficiaries", "enrollments", "admissions", "admissions_audit", "qc_enrollments", "qc_admissions")

FIRST_YEAR, LAST_YEAR = 1999, 2018  # SAS denominators/inpatient 1999–2010, FTS deliveries 2011 on
FAMILIES = ("admissions", "summary")
partitions = dg.MultiPartitionsDefinition(
    {
        "family": dg.StaticPartitionsDefinition(list(FAMILIES)),
        "year": dg.StaticPartitionsDefinition([str(y) for y in range(FIRST_YEAR, LAST_YEAR + 1)]),
    }
)

"""The family's assets and checks, as the tests materialize them together."""

from medicaid_assets.defs.resdac_medicare import assets, checks

FAMILY = [
    assets.resdac_raw,
    assets.resdac_beneficiaries,
    assets.resdac_admissions,
    assets.resdac_qc_enrollments,
    assets.resdac_qc_admissions,
    assets.resdac_postgres_export,
    checks.admissions_counts_add_up,
    checks.enrollments_key_unique,
    checks.beneficiaries_key_unique,
    checks.qc_sketches_within_bounds,
]

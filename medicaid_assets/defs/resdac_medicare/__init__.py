"""ResDAC Medicare research files: FTS layouts, fixed-width and SAS ingestion, beneficiaries, enrollments, admissions, QC."""

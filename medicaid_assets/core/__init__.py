"""Generic, family-free building blocks with no Dagster in them: downloads, archives, atomic writes, retries, stamps."""

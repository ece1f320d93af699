"""The negotiated-rates warehouse: Medicare and workers'-comp benchmarks (phase 1), as DuckDB-readable frames and Iceberg tables."""

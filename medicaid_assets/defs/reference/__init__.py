"""Reference data every family shares: NPPES providers, code sets, identifier resolution."""

"""Identifier resolution: identifiers the families hand over, NPI and HCPCS caches filled from bulk files and two
APIs, and the original tool's outputs (mappings, resolved datasets, unresolved report, triage)."""

"""Dagster helpers: resources, IO managers, metadata, checks, charts, run control."""

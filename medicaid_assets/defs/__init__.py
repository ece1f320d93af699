"""Every asset family, one folder each, loaded by ``dg.load_from_defs_folder``: a family imports ``core``,
``dagster_kit`` and other families' ``keys.py`` only (docs/architecture.md)."""

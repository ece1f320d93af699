"""Payers' price-transparency (Transparency in Coverage) files: tables of contents, in-network rates, normalized."""

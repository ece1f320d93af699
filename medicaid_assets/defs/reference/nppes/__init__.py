"""NPPES: monthly and weekly bundles, the provider tables, the weekly sensor and the monthly schedule."""

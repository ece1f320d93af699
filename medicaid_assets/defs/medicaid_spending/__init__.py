"""Medicaid Provider Spending: the HHS spending file and its monthly-partitioned warehouse table."""

"""Fee schedules as reference data: the Medicare physician fee schedule (PFS) and the schedules other families benchmark against."""

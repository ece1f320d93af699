"""Fee schedules as reference data: the Medicare physician fee schedule (PFS), the OPPS and ASC addenda, and state
workers'-comp schedules, which other families benchmark against."""

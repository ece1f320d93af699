"""Fee schedules as reference data: Medicare PFS, OPPS and ASC addenda, state workers'-comp schedules."""

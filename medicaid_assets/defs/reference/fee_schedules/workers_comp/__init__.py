"""State workers'-comp fee schedules: one handler per state, registered by name, into one long table of maximums."""

"""What many test modules share, in one place: ``ports`` (a free loopback port), ``cli`` (the ``medicaid-assets``
CLI as a subprocess), ``events`` (metadata, checks and failures read off Dagster results), ``waiting`` (polling
until something holds) and ``pipeline`` (fast API pacing, definitions with other resources)."""

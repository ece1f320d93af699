"""Beyond one machine: Hugging Face publishing (group ``publish``, its own opt-in job) and object storage (group
``storage``: only when ``MEDICAID_OBJECT_STORE_URL`` is set, the source assets and the lookups then wait for their
restore from the bucket, and the outputs are mirrored to it)."""

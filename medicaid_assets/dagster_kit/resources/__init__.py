"""Resources for the systems every family touches: HTTP files, the data directory, the warehouse, object storage."""

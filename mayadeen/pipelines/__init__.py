"""Item pipelines: stamp, validate, deduplicate and store each record."""

"""LiveStream: ingest builders, reconciler, status function and status loop."""

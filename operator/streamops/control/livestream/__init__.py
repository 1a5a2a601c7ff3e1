"""LiveStream: ingest builders (specs/), reconciler, status function and status loop."""

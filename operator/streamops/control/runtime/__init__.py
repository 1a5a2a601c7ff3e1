"""The operator's runtime, whatever the kind: settings, in-memory state and indexes, one status loop
per object (object_loop, object_tasks), conditions and status patches, Events, the operator's
metrics, leader election, and the RBAC rules the operator runs under. Imports no kind folder."""

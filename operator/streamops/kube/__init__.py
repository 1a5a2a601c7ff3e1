"""Kubernetes in general, for the operator and the command lines alike: the API client, its thread
pool, the free-form JSON of an object, and the names, labels and owner references streamops gives
the objects it makes. Imports nothing of streamops but `streamops.api`; importing the package loads
none of its modules (the chart tooling imports `manifests` without the operator's dependencies)."""

"""What every kind uses: the API adapter, state, settings, indexes, names, ports, RBAC, children,
worker Pods, conditions, status patches, the worker client and the generic object loop."""

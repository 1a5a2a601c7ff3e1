"""Control plane: kopf handlers, manifest builders and status computation."""

"""Control plane: kopf handlers (handlers.py) and the registry of kinds (kinds.py); one folder per kind
(builders, reconcile, status, loop, reasons), and the namespace's edge (edge/), a controller of
its own; and what the kinds use, which imports no kind: the
operator's runtime (runtime/), worker Pods (workers/), video storage (storage/), spec checks and the
tenancy policy (shared/)."""

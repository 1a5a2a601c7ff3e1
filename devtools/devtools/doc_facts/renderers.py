"""Block NAME → the function that renders its body (given the docs' root, where docs/refused-defaults.yaml
is read; the other facts come from this checkout's code)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devtools.doc_facts import (
    cli,
    kinds,
    kubectl_get,
    kubernetes_range,
    make_targets,
    refused_defaults,
    webhook_events,
    worker_roles,
)

RENDERERS: dict[str, Callable[[Path], str]] = {
    "kubectl-get": lambda root: kubectl_get.render(),
    "kinds": lambda root: kinds.render(),
    "webhook-events": lambda root: webhook_events.render(),
    "cli": lambda root: cli.render(),
    "worker-roles": lambda root: worker_roles.render(),
    "make-targets": lambda root: make_targets.render(),
    "kubernetes-range": lambda root: kubernetes_range.render(),
    "refused-defaults": refused_defaults.render,
}

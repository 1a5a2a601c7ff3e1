"""Reconcile a namespace's edge with the streams that want it: what exists read (observe.py), what is
wanted decided (plan.py, pure), the plan carried out (apply.py). Run by the namespace's edge loop
(loop.py), never by a stream's reconcile: a stream records on its primary ingest Service that it wants
the edge and on which path; this makes the edge match every such record at once."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.control.edge.apply import apply_edge
from streamops.control.edge.observe import observe_edge
from streamops.control.edge.plan import plan_edge
from streamops.control.shared.settings import OperatorSettings
from streamops.kube.client import KubeApi, NamespaceTerminating


@dataclass(frozen=True)
class EdgeOutcome:
    """The edge's facts for the status of the streams it serves."""

    streams: tuple[str, ...]  # the streams that want it, by name (none: it is gone, or going)
    refused: str | None = None  # the API server's refusal, as those streams' status says it
    conflict: bool = False  # an object changed while it was written: reconcile again now


def reconcile_edge(api: KubeApi, settings: OperatorSettings, namespace: str) -> EdgeOutcome:
    """Idempotent: safe to run from any trigger, any number of times."""
    try:
        observed = observe_edge(api, namespace)
        plan = plan_edge(observed, settings)
        applied = apply_edge(api, settings, plan, observed)
    except NamespaceTerminating:
        return EdgeOutcome(())
    return EdgeOutcome(plan.streams, applied.refused, applied.conflict)

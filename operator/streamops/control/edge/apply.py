"""Carry out the edge's plan (plan.py), in the order the writes must come: the recordings claim its
Pods mount, the Deployment (created, written over with the resourceVersion read, or deleted with its
uid as precondition), then what the Deployment owns: its Service, its autoscaler, the routes
ConfigMap. A write refused with a conflict (the object changed since it was read: the autoscaler
scaled the Deployment) is not forced: the controller runs again at once with what it reads then."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api.recording import PersistentVolumeClaimStorage, RecordingStorage
from streamops.contract.edge import EDGE_NAME
from streamops.control.edge.observation import EdgeObserved
from streamops.control.edge.plan import EdgePlan, autoscaler_update, routes_update
from streamops.control.edge.specs import edge_autoscaler, edge_routes, edge_service
from streamops.control.shared.api_refusals import REFUSALS, refusal
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.claim_creation import ensure_recordings_claim
from streamops.kube.client import ApiError, KubeApi
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class EdgeApplied:
    refused: str | None = None  # the API server's refusal of one of the edge's objects, as status says it
    conflict: bool = False  # a write found the object changed since it was read: look again now


def apply_edge(api: KubeApi, settings: OperatorSettings, plan: EdgePlan, observed: EdgeObserved) -> EdgeApplied:
    try:
        return _apply(api, settings, plan, observed)
    except ApiError as e:
        if e.status not in REFUSALS:
            raise
        return EdgeApplied(refused=f"the edge {EDGE_NAME} refused: {refusal(e)}")


def _apply(api: KubeApi, settings: OperatorSettings, plan: EdgePlan, observed: EdgeObserved) -> EdgeApplied:
    namespace, current = plan.namespace, observed.deployment
    if plan.delete is not None:
        api.delete("Deployment", namespace, EDGE_NAME, plan.delete)  # its Service, autoscaler, routes with it
        return EdgeApplied()
    if not plan.streams:
        return EdgeApplied()
    if plan.claim is not None:  # before the Pods that mount it
        storage = RecordingStorage(pvc=PersistentVolumeClaimStorage(claim_name=plan.claim))
        ensure_recordings_claim(api, namespace, storage, settings.recordings)
    if plan.deployment is not None:
        written = api.create(plan.deployment) if current is None else api.replace(plan.deployment)
        if written is None:  # created or changed meanwhile
            return EdgeApplied(conflict=True)
        current = written
    assert current is not None  # (plan_edge wants one created when none was read)
    if observed.service is None:
        api.create(edge_service(current))
    autoscaler, routes = edge_autoscaler(current, settings.edge), edge_routes(current, plan.routes, plan.rules)
    writes = (
        (
            observed.autoscaler,
            autoscaler if observed.autoscaler is None else autoscaler_update(observed.autoscaler, autoscaler),
        ),
        (
            observed.routes,
            routes if observed.routes is None else routes_update(observed.routes, plan.routes, plan.rules),
        ),
    )
    for have, desired in writes:
        if desired is not None and not _written(api, have, desired):
            return EdgeApplied(conflict=True)
    return EdgeApplied()


def _written(api: KubeApi, have: Manifest | None, desired: Manifest) -> bool:
    """`desired` created (none was read) or written over `have` (PUT); False: refused with a conflict."""
    if have is None:
        api.create(desired)  # (a 409, created meanwhile: the next look compares it)
        return True
    return api.replace(desired) is not None

"""Carry out a Clip's plan (plan.py) through the actuators of control/workers/children.py, in the
order the writes must come (docs/design/reconcile-plan.md): the clipper removed, or the default
claim before the clipper that writes to it."""

from __future__ import annotations

from streamops.control.clip.observation import Observed
from streamops.control.clip.plan import Plan, wanted_pod
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.claim_creation import ensure_recordings_claim
from streamops.control.workers.children import ensure_pod, remove_pod
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.kube.client import KubeApi


def apply_plan(
    api: KubeApi, settings: OperatorSettings, plan: Plan, observed: Observed, allocator: PortAllocator | None
) -> None:
    namespace, uid = plan.clip.metadata.namespace or "", plan.clip.metadata.uid
    if plan.remove:
        remove_pod(api, observed.clipper, uid, allocator)
    if plan.create_claim and plan.storage is not None:
        ensure_recordings_claim(api, namespace, plan.storage, settings.recordings)
    if plan.clipper:
        current = observed.clipper
        host_ports = (ports_of(current) or allocator.allocate(["http"])) if allocator is not None else None
        ensure_pod(api, wanted_pod(plan, settings, observed, host_ports), current, uid)

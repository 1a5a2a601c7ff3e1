"""Carry out a Clip's plan (plan.py) through the actuators of control/workers/children.py, in the
order the writes must come (docs/design/reconcile-plan.md): the clipper removed, or the default
claim before the clipper that writes to it (storage/storing_apply.py)."""

from __future__ import annotations

from streamops.control.clip.observation import Observed
from streamops.control.clip.plan import Plan, wanted_pod
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.storing_apply import clear_the_way, worker_host_ports
from streamops.control.workers.children import ensure_pod
from streamops.control.workers.ports import PortAllocator
from streamops.kube.client import KubeApi


def apply_plan(
    api: KubeApi, settings: OperatorSettings, plan: Plan, observed: Observed, allocator: PortAllocator | None
) -> None:
    namespace, uid = plan.clip.metadata.namespace or "", plan.clip.metadata.uid
    claim = plan.storage if plan.create_claim else None
    clear_the_way(api, settings, namespace, uid, observed.worker, plan.remove, claim, allocator)
    if plan.clipper:
        host_ports = worker_host_ports(observed.worker, allocator)
        ensure_pod(api, wanted_pod(plan, settings, observed, host_ports), observed.worker, uid)

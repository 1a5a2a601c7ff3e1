"""Carry out a Restream's plan (plan.py) through the actuators of control/workers/children.py, in
the order the writes must come (docs/design/reconcile-plan.md): the pusher removed or rolled, then
the owner patch (after the Pod, which is what a new Restream waits for)."""

from __future__ import annotations

from streamops.api import RESTREAM
from streamops.control.restream.observe import Observed
from streamops.control.restream.plan import Plan, wanted_pod
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.workers.children import remove_pod, roll_pod
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.restarts import KEEP, PodChange
from streamops.kube.client import KubeApi


def apply_plan(
    api: KubeApi, settings: OperatorSettings, plan: Plan, observed: Observed, allocator: PortAllocator | None
) -> PodChange:
    """The pusher Pod replaced, or kept until it is idle (restarts.py): what only the write tells."""
    restream = plan.restream
    namespace, uid = restream.metadata.namespace or "", restream.metadata.uid
    if plan.remove:
        remove_pod(api, observed.pusher, uid, allocator)
    change = KEEP
    if plan.pusher:
        current = observed.pusher
        host_ports = (ports_of(current) or allocator.allocate(["http"])) if allocator is not None else None
        desired = wanted_pod(plan, settings, observed, host_ports)
        change = roll_pod(api, desired, current, uid, restream.metadata.generation, plan.busy, plan.immediate).change
    if plan.owner_patch is not None:
        api.patch_custom(RESTREAM, namespace, restream.metadata.name, plan.owner_patch)
    return change

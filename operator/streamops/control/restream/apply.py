"""Carry out a Restream's plan (plan.py) through the actuators of control/workers/children.py, in
the order the writes must come (docs/design/reconcile-plan.md): the Restream's own pusher Pod of an
older operator removed, the stream's shared pusher removed or rolled (moved off a cordoned node by a
handover) and its owners brought up to date, its PodDisruptionBudget (restart policy handover) after
its Pods (it holds as many as there are), then the owner patch (after the Pod, which is what a new
Restream waits for). The targets are sent by the status loop (PUT /targets): an HTTP call to the
worker, not a write."""

from __future__ import annotations

from streamops.api import RESTREAM
from streamops.control.restream.observation import Observed
from streamops.control.restream.plan import Plan, wanted_budget, wanted_pod
from streamops.control.runtime.object_loop import utcnow
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.children import ensure_owned, remove_pod, roll_pod
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.restarts import KEEP, PodChange
from streamops.control.workers.successor_pod import in_place_of, plan_successor
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Manifest


def our_owner(pod: Manifest | None, plan: Plan, observed: Observed) -> str | None:
    """The uid under which the shared Pod is ours: one of its owners that is a Restream of the
    stream (None: no Pod yet, the first target's; or a Pod that is not ours, left alone)."""
    ours = {t.restream.metadata.uid for t in observed.targets} | {plan.restream.metadata.uid}
    if pod is None:
        return plan.targets[0].restream.metadata.uid if plan.targets else None
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == RESTREAM.kind and ref.get("uid") in ours:
            return str(ref["uid"])
    return None


def owners_patch(desired: Manifest, current: Manifest | None) -> Manifest | None:
    """The ownerReferences to write when the Restreams pushed to changed (metadata only: no restart)."""
    if current is None or current["metadata"].get("deletionTimestamp"):
        return None
    wanted = desired["metadata"]["ownerReferences"]
    have = current["metadata"].get("ownerReferences") or []
    if sorted(r.get("uid", "") for r in have) == sorted(r["uid"] for r in wanted):
        return None
    return {"metadata": {"ownerReferences": wanted}}


def apply_plan(
    api: KubeApi, settings: OperatorSettings, plan: Plan, observed: Observed, allocator: PortAllocator | None
) -> PodChange:
    """The pusher Pod replaced, or kept until it is idle (restarts.py): what only the write tells."""
    restream = plan.restream
    namespace, uid = restream.metadata.namespace or "", restream.metadata.uid
    if plan.remove_legacy:
        remove_pod(api, observed.legacy_pusher, uid, allocator)
    current = observed.pusher
    if plan.remove and current is not None:
        remove_pod(api, current, our_owner(current, plan, observed), allocator)
        if observed.other is not None:
            remove_pod(api, observed.other, our_owner(observed.other, plan, observed), allocator)
    if plan.remove:
        ensure_owned(api, None, observed.budget, "PodDisruptionBudget", our_owner(observed.budget, plan, observed))
    change = KEEP
    if plan.pusher:
        host_ports = (ports_of(current) or allocator.allocate(["http"])) if allocator is not None else None
        desired = in_place_of(wanted_pod(plan, settings, observed, host_ports), current)
        owner = our_owner(current, plan, observed)
        # A cordoned node is a reason to move only where the budget holds the pusher (else a drain evicts it).
        moved = observed.drain if plan.movable else None
        rolled = roll_pod(api, desired, current, owner, None, plan.busy, plan.immediate, moved, handover=plan.handover)
        # On the host network a successor has a host port of its own: it runs beside its predecessor.
        other = observed.other
        fresh = allocator is not None and other is None and rolled.change.action == "handover"
        other_ports = allocator.allocate(["http"]) if fresh and allocator is not None else ports_of(other)
        for_other = wanted_pod(plan, settings, observed, other_ports) if allocator is not None else None
        now = utcnow()
        successor = plan_successor(desired, rolled.pod, other, rolled.change, observed.slots, now, for_other)
        change = successor.change
        if fresh and successor.create is None and allocator is not None:
            allocator.release(other_ports.values())
        if successor.delete is not None:
            remove_pod(api, successor.delete, our_owner(successor.delete, plan, observed), allocator)
        if successor.create is not None:
            api.create(successor.create)  # already there: the pod index lagged, and the one there goes on
        kept = None if successor.delete is not None else other
        budget = wanted_budget(plan, desired, [rolled.pod, kept, successor.create], observed.slots)
        budget_owner = our_owner(observed.budget, plan, observed) if observed.budget is not None else owner
        ensure_owned(api, budget, observed.budget, "PodDisruptionBudget", budget_owner)
        patch = owners_patch(desired, rolled.pod) if owner is not None else None
        if patch is not None and rolled.pod is not None:
            api.patch("Pod", namespace, rolled.pod["metadata"]["name"], patch)
    if plan.owner_patch is not None:
        api.patch_custom(RESTREAM, namespace, restream.metadata.name, plan.owner_patch)
    return change

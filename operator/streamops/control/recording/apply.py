"""Carry out a Recording's plan (plan.py) through the actuators of control/workers/children.py, in
the order the writes must come (docs/design/reconcile-plan.md): the recorder removed, or the
default claim, then the stream's standby adopted, then the recorder's own Pod. Whether the
adoption took decides what follows, so this asks plan.py's second-phase functions then. A busy
recorder to be handed over gets its successor in its other slot (workers/successor_pod.py, run as
a warm recorder: plan.as_standby); one on a claim any node mounts also leaves a cordoned node so,
and has a PodDisruptionBudget, made after its Pods (it holds as many as there are). The origin
expiry Pod (keepOrigin on a claim) is created or removed apart: it depends on none of them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from streamops.api import LiveStream, Recording
from streamops.contract.recorder import RecorderConfig
from streamops.control.recording.observation import Observed
from streamops.control.recording.plan import (
    OriginExpiryPlan,
    Plan,
    adopted,
    as_standby,
    standby_config,
    start_config,
    wanted_budget,
    wanted_pod,
)
from streamops.control.recording.specs.adoption import adoption_patch
from streamops.control.runtime.object_loop import utcnow
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.storing_apply import clear_the_way, worker_host_ports
from streamops.control.workers.children import ensure_owned, remove_pod, roll_pod
from streamops.control.workers.handover_marks import successor_of
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.restarts import KEEP, PodChange
from streamops.control.workers.successor_pod import in_place_of, plan_successor
from streamops.kube.client import ApiError, KubeApi
from streamops.kube.manifests import Manifest
from streamops.kube.naming import owned_by

log = logging.getLogger("streamops.operator")


@dataclass(frozen=True)
class Applied:
    """What carrying out the plan found that only the writes could tell."""

    start_config: RecorderConfig | None = None  # a standby was adopted (now or before): send it this
    pod_change: PodChange = KEEP  # the recorder Pod replaced, or kept until it is idle (restarts.py)
    handover_config: RecorderConfig | None = None  # a successor under way is sent this by POST /start


def adopt_standby(
    api: KubeApi, namespace: str, standby: str, recording: Recording, stream: LiveStream
) -> Manifest | None:
    """Take the stream's running standby recorder; None (create a Pod as usual) when there is none
    or another Recording took it first (the patch carries the Pod's resourceVersion)."""
    pod = api.get("Pod", namespace, standby)
    if (
        pod is None
        or not owned_by(pod, stream.metadata.uid)
        or (pod.get("status") or {}).get("phase") != "Running"
        or pod["metadata"].get("deletionTimestamp")
    ):
        return None
    patch = adoption_patch(recording)
    patch["metadata"]["resourceVersion"] = pod["metadata"].get("resourceVersion")
    try:
        api.patch("Pod", namespace, standby, patch)
    except ApiError as e:
        if e.status == 409:
            return None
        raise
    annotations = {**(pod["metadata"].get("annotations") or {}), **patch["metadata"]["annotations"]}
    return {**pod, "metadata": {**pod["metadata"], "annotations": annotations}}


def apply_plan(
    api: KubeApi, settings: OperatorSettings, plan: Plan, observed: Observed, allocator: PortAllocator | None
) -> Applied:
    recording = plan.recording
    namespace, uid = recording.metadata.namespace or "", recording.metadata.uid
    claim = plan.storage if plan.create_claim else None
    clear_the_way(api, settings, namespace, uid, observed.worker, plan.remove, claim, allocator)
    if plan.remove and observed.other is not None:
        remove_pod(api, observed.other, uid, allocator)
    if plan.remove:
        ensure_owned(api, None, observed.budget, "PodDisruptionBudget", uid)
    if not plan.recorder or plan.stream is None:
        return Applied()
    pod = observed.worker
    if plan.adopt is not None:
        pod = adopt_standby(api, namespace, plan.adopt, recording, plan.stream)
    if pod is not None and adopted(pod):
        return Applied(start_config=start_config(plan, settings, observed, pod))
    host_ports = worker_host_ports(pod, allocator)
    desired = in_place_of(wanted_pod(plan, settings, observed, host_ports), pod)
    generation = recording.metadata.generation
    # A cordoned node is a reason to move only for a recorder that can (its budget holds it meanwhile).
    moved = observed.drain if plan.movable else None
    rolled = roll_pod(api, desired, pod, uid, generation, plan.busy, plan.immediate, moved, handover=plan.handover)
    # On the host network a successor has a host port of its own: it runs beside its predecessor.
    other, slots = observed.other, observed.slots
    fresh = allocator is not None and other is None and rolled.change.action == "handover"
    other_ports = allocator.allocate(["http"]) if fresh and allocator is not None else ports_of(other)
    for_other = wanted_pod(plan, settings, observed, other_ports) if allocator is not None else None
    standby = standby_config(settings, other_ports)
    successor = as_standby(
        plan_successor(desired, rolled.pod, other, rolled.change, slots, utcnow(), for_other), standby
    )
    if fresh and successor.create is None and allocator is not None:
        allocator.release(other_ports.values())
    if successor.delete is not None:
        remove_pod(api, successor.delete, uid, allocator)
    if successor.create is not None:
        api.create(successor.create)  # already there: the pod index lagged, and the one there goes on
    kept = None if successor.delete is not None else other
    budget = wanted_budget(plan, desired, [rolled.pod, kept, successor.create], slots)
    ensure_owned(api, budget, observed.budget, "PodDisruptionBudget", uid)
    # A successor (under way, or the recorder now) is configured by POST /start, as an adopted standby.
    current = rolled.pod
    runs = start_config(plan, settings, observed, current) if current and successor_of(current) else None
    uid_now = ((current or {}).get("metadata") or {}).get("uid")
    following = other is not None and successor.delete is None and successor_of(other) == uid_now
    handing = start_config(plan, settings, observed, other) if following and other is not None else None
    return Applied(start_config=runs, pod_change=successor.change, handover_config=handing)


def apply_origin_expiry(api: KubeApi, recording: Recording, plan: OriginExpiryPlan) -> None:
    """The ended origin expiry Pod removed (that uid: a new one may have its name), or a new one made
    (already there: the pod index lagged, and the one there does the work)."""
    namespace = recording.metadata.namespace or ""
    if plan.remove is not None:
        api.delete("Pod", namespace, plan.remove.name, plan.remove.uid or None)
    if plan.create is not None and api.create(plan.create) is not None:
        name = plan.create["metadata"]["name"]
        log.info(
            "Recording %s/%s: %d original(s) due: Pod %s deletes them",
            namespace,
            recording.metadata.name,
            plan.originals,
            name,
        )

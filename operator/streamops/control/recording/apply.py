"""Carry out a Recording's plan (plan.py) through the actuators of control/workers/children.py, in
the order the writes must come (docs/design/reconcile-plan.md): the recorder removed, or the
default claim, then the stream's standby adopted, then the recorder's own Pod. Whether the
adoption took decides what follows, so this asks plan.py's second-phase functions then. The origin
expiry Pod (keepOrigin on a claim) is created or removed apart: it depends on none of them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from streamops.api import LiveStream, Recording
from streamops.contract.recorder import RecorderConfig
from streamops.control.recording.observation import Observed
from streamops.control.recording.plan import OriginExpiryPlan, Plan, adopted, start_config, wanted_pod
from streamops.control.recording.specs.adoption import adoption_patch
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.storing_apply import clear_the_way, worker_host_ports
from streamops.control.workers.children import roll_pod
from streamops.control.workers.ports import PortAllocator
from streamops.control.workers.restarts import KEEP, PodChange
from streamops.kube.client import ApiError, KubeApi
from streamops.kube.manifests import Manifest
from streamops.kube.naming import owned_by

log = logging.getLogger("streamops.operator")


@dataclass(frozen=True)
class Applied:
    """What carrying out the plan found that only the writes could tell."""

    start_config: RecorderConfig | None = None  # a standby was adopted (now or before): send it this
    pod_change: PodChange = KEEP  # the recorder Pod replaced, or kept until it is idle (restarts.py)


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
    if not plan.recorder or plan.stream is None:
        return Applied()
    pod = observed.worker
    if plan.adopt is not None:
        pod = adopt_standby(api, namespace, plan.adopt, recording, plan.stream)
    if pod is not None and adopted(pod):
        return Applied(start_config=start_config(plan, settings, observed, pod))
    host_ports = worker_host_ports(pod, allocator)
    desired = wanted_pod(plan, settings, observed, host_ports)
    rolled = roll_pod(api, desired, pod, uid, recording.metadata.generation, plan.busy, plan.immediate)
    return Applied(pod_change=rolled.change)


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

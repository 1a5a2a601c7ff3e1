"""Carry out a Recording's plan (plan.py) through the actuators of control/workers/children.py, in
the order the writes must come (docs/design/reconcile-plan.md): the recorder removed, or the
default claim, then the stream's standby adopted, then the recorder's own Pod. Whether the
adoption took decides what follows, so this asks plan.py's second-phase functions then."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream, Recording
from streamops.contract.recorder import RecorderConfig
from streamops.control.recording.observation import Observed
from streamops.control.recording.plan import Plan, adopted, start_config, wanted_pod
from streamops.control.recording.specs.adoption import adoption_patch
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.claim_creation import ensure_recordings_claim
from streamops.control.workers.children import remove_pod, roll_pod
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.restarts import KEEP, PodChange
from streamops.kube.client import ApiError, KubeApi
from streamops.kube.manifests import Manifest
from streamops.kube.naming import owned_by


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
    if plan.remove:
        remove_pod(api, observed.recorder, uid, allocator)
    if plan.create_claim and plan.storage is not None:
        ensure_recordings_claim(api, namespace, plan.storage, settings.recordings)
    if not plan.recorder or plan.stream is None:
        return Applied()
    pod = observed.recorder
    if plan.adopt is not None:
        pod = adopt_standby(api, namespace, plan.adopt, recording, plan.stream)
    if pod is not None and adopted(pod):
        return Applied(start_config=start_config(plan, settings, observed, pod))
    host_ports = (ports_of(pod) or allocator.allocate(["http"])) if allocator is not None else None
    desired = wanted_pod(plan, settings, observed, host_ports)
    rolled = roll_pod(api, desired, pod, uid, recording.metadata.generation, plan.busy, plan.immediate)
    return Applied(pod_change=rolled.change)

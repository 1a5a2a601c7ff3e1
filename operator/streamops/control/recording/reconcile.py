"""Reconcile one Recording: the recordings PVC and the recorder Pod (a new one, or the stream's
adopted standby recorder), or no Pod when its storage's Secrets are missing or not labelled for
use by specs (tenancy.py), or the quota is full.
Status is written by the status loop from what the recorder reports."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream, Recording
from streamops.api.recording import RecordingStorage
from streamops.contract.recorder import RecorderConfig
from streamops.contract.worker import HTTP_PORT
from streamops.control.recording.specs.adoption import adoption_patch
from streamops.control.recording.specs.names import recorder_pod_name
from streamops.control.recording.specs.pod import recorder_pod
from streamops.control.recording.specs.storage import resolved_storage
from streamops.control.recording.specs.worker_config import recorder_config
from streamops.control.recording.status import SUCCEEDED
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse, read_stream
from streamops.control.storage.recordings_claim import ensure_recordings_claim, on_default_claim
from streamops.control.storage.video_storage import StorageRefusal, storage_secrets_refusal
from streamops.control.workers.children import owned_by, remove_pod, roll_pod
from streamops.control.workers.ingest_address import allocated_ingest_ports
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.restarts import IMMEDIATE, KEEP, RESTARTS_ANNOTATION, PodChange
from streamops.kube.client import ApiError, KubeApi, NamespaceTerminating
from streamops.kube.manifests import Body, Manifest
from streamops.kube.naming import ADOPTED_ANNOTATION


@dataclass(frozen=True)
class RecordingOutcome:
    generation: int | None
    invalid_spec: str | None = None
    waiting_for_stream: bool = False  # no Pod yet: the stream (or its ingest ports) is missing
    stream_uid: str | None = None  # the stream the Pod was built for
    start_config: RecorderConfig | None = None  # an adopted standby recorder is sent this by POST /start
    storage: RecordingStorage | None = None  # where the videos go, resolved (None: not looked at this time)
    storage_refused: StorageRefusal | None = None  # no Pod: a Secret of the storage is missing or refused
    no_space: bool = False  # no Pod: the quota was full before the recorder started
    pod_change: PodChange = KEEP  # the recorder Pod replaced, or kept until it is idle (restarts.py)


def finalised_in_status(raw: Body) -> bool:
    conditions = (raw.get("status") or {}).get("conditions") or []
    return any(c.get("type") == SUCCEEDED and c.get("status") == "True" for c in conditions)


def _adopt(api: KubeApi, namespace: str, standby: str, recording: Recording, stream: LiveStream) -> Manifest | None:
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


def _claim_access_modes(
    api: KubeApi, namespace: str, storage: RecordingStorage, settings: OperatorSettings
) -> tuple[str, ...] | None:
    """A claim's access modes, as the claim says (none when it does not exist yet: treated as one
    node's); None for the default claim, whose mode is the operator's setting, and object storage."""
    if storage.pvc is None or on_default_claim(storage, settings):
        return None
    claim = api.get("PersistentVolumeClaim", namespace, storage.pvc.claim_name)
    return tuple(((claim or {}).get("spec") or {}).get("accessModes") or ())


def reconcile_recording(
    api: KubeApi,
    settings: OperatorSettings,
    body: Body,
    allocator: PortAllocator | None = None,
    recorder: str | None = None,
    standby: str | None = None,
    quota_full: bool | None = None,
) -> RecordingOutcome:
    """Idempotent. The recorder Pod exists from the start (it waits for the feed by itself, so it
    starts within a fraction of a second of the stream going live) until the Recording is stopped
    and its final status is written. `recorder` is the name of the Pod the pod index says is this
    Recording's (an adopted standby has its own name); `standby` the stream's warm recorder, which
    a Recording with no recorder yet adopts instead of creating a Pod (only when it records to the
    default claim, the standby's); `quota_full` (from the status loop's quota check): a Recording
    with no recorder yet gets none (a running one is finalised by its status loop)."""
    parsed = parse(Recording, body)
    raw, generation, recording = parsed.raw, parsed.generation, parsed.obj
    if recording is None:
        return RecordingOutcome(generation, invalid_spec=parsed.problem)
    namespace, uid = recording.metadata.namespace or "", recording.metadata.uid
    pod_name = recorder_pod_name(recording.metadata.name)
    current = api.get("Pod", namespace, recorder or pod_name)
    try:
        if recording.spec.stopped:
            running = bool(current and (current.get("status") or {}).get("phase") == "Running")
            if finalised_in_status(raw) or not running:
                # Nothing left to finalise (or no recorder that could): the Pod goes, the videos stay.
                remove_pod(api, current, uid, allocator)
            return RecordingOutcome(generation)
        stream = read_stream(api, namespace, recording.spec.stream_ref.name)
        if stream is None:
            return RecordingOutcome(generation, waiting_for_stream=True)
        storage = resolved_storage(recording, stream, settings)
        if current is None and quota_full:
            return RecordingOutcome(generation, stream_uid=stream.metadata.uid, storage=storage, no_space=True)
        refused = storage_secrets_refusal(api, namespace, storage.s3, settings) if storage.s3 is not None else None
        if refused is not None and (current is None or refused.by_policy):
            # A recorder the policy refuses goes (made before the policy, or its Secret's label was
            # taken away): it finalises and exits, and no new one starts until the label is there.
            remove_pod(api, current, uid, allocator)
            return RecordingOutcome(
                generation, stream_uid=stream.metadata.uid, storage=storage, storage_refused=refused
            )
        if current is None:
            ensure_recordings_claim(api, namespace, storage, settings)
        ingest_ports = host_ports = None
        if allocator is not None:
            ingest_ports = allocated_ingest_ports(api, stream)
            if ingest_ports is None:  # the stream has not got its ports yet: come back when it has
                return RecordingOutcome(generation, waiting_for_stream=True, storage=storage)
        if current is None and on_default_claim(storage, settings) and standby and stream.spec.recording.standby:
            current = _adopt(api, namespace, standby, recording, stream)
        if current is not None and ADOPTED_ANNOTATION in (current["metadata"].get("annotations") or {}):
            http_port = ports_of(current).get("http", HTTP_PORT)
            config = recorder_config(recording, stream, settings, ingest_ports, http_port)
            return RecordingOutcome(generation, stream_uid=stream.metadata.uid, start_config=config, storage=storage)
        if allocator is not None:
            host_ports = ports_of(current) or allocator.allocate(["http"])
        modes = _claim_access_modes(api, namespace, storage, settings)
        desired = recorder_pod(recording, stream, settings, ingest_ports, host_ports, modes)
        busy = bool(recording.status and recording.status.recording)
        immediate = recording.metadata.annotations.get(RESTARTS_ANNOTATION) == IMMEDIATE
        rolled = roll_pod(api, desired, current, uid, generation, busy, immediate)
        return RecordingOutcome(generation, stream_uid=stream.metadata.uid, storage=storage, pod_change=rolled.change)
    except NamespaceTerminating:
        return RecordingOutcome(generation)

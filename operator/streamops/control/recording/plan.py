"""What a Recording's reconcile wants, decided from the Recording, the settings and what observe.py
read: pure, no API call (docs/design/reconcile-plan.md). plan_recorder() decides whether the
recorder goes or runs, the default claim, the standby to adopt, and what the outcome says; the
functions below it build what depends on a write's answer (the standby adopted or not, the host
port the allocator gave), and apply.py calls them at that point."""

from __future__ import annotations

from dataclasses import dataclass, replace

from streamops.api import LiveStream, Recording
from streamops.api.recording import RecordingStorage
from streamops.contract.recorder import RecorderConfig
from streamops.contract.worker import HTTP_PORT
from streamops.control.recording.observation import Observed
from streamops.control.recording.specs.pod import recorder_pod
from streamops.control.recording.specs.worker_config import recorder_config
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.storage.recordings_claim import on_default_claim
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.ports import ports_of
from streamops.kube.manifests import Manifest
from streamops.kube.naming import ADOPTED_ANNOTATION, IMMEDIATE, RESTARTS_ANNOTATION


@dataclass(frozen=True)
class Plan:
    """What the reconcile wants, before any write; the last fields are what the outcome says."""

    recording: Recording
    remove: bool = False  # the recorder goes (nothing left to finalise, or its storage is refused)
    create_claim: bool = False  # the default claim, before a first recorder (a create when missing)
    recorder: bool = False  # a recorder runs: an adopted standby, or its own Pod
    adopt: str | None = None  # the stream's standby recorder to adopt first (it may be taken)
    busy: bool = False  # the recorder records (status.recording): a change that can wait waits
    immediate: bool = False  # the owner asks for a pending restart now (restarts.py)
    stream: LiveStream | None = None  # the stream the recorder is built for
    waiting_for_stream: bool = False  # the stream (or its ingest ports) is missing
    storage: RecordingStorage | None = None
    storage_refused: StorageRefusal | None = None
    no_space: bool = False  # the quota was full before a recorder started


def plan_recorder(
    recording: Recording,
    recordings: RecordingsSettings,
    observed: Observed,
    finalised: bool,
    standby: str | None = None,
    quota_full: bool | None = None,
) -> Plan:
    """Pure. `finalised`: the Recording's status says Succeeded (its videos are final); `standby`:
    the stream's warm recorder Pod, when the pod index has one; `quota_full`: the status loop's
    quota check (a Recording with no recorder yet gets none)."""
    current = observed.recorder
    base = Plan(
        recording,
        busy=bool(recording.status and recording.status.recording),
        immediate=recording.metadata.annotations.get(RESTARTS_ANNOTATION) == IMMEDIATE,
    )
    if recording.spec.stopped:
        running = bool(current and (current.get("status") or {}).get("phase") == "Running")
        # Nothing left to finalise (or no recorder that could): the Pod goes, the videos stay.
        return replace(base, remove=finalised or not running)
    stream, storage = observed.stream, observed.storage
    if stream is None or storage is None:
        return replace(base, waiting_for_stream=True)
    with_stream = replace(base, stream=stream, storage=storage)
    if current is None and quota_full:
        return replace(with_stream, no_space=True)
    refused = observed.storage_refused
    if refused is not None and (current is None or refused.by_policy):
        # A recorder the policy refuses goes (made before the policy, or its Secret's label was
        # taken away): it finalises and exits, and no new one starts until the label is there.
        return replace(with_stream, remove=True, storage_refused=refused)
    create_claim = current is None
    if observed.host_network and observed.ingest_ports is None:
        # The stream has not got its ports yet: come back when it has (the outcome names no stream).
        return replace(base, create_claim=create_claim, waiting_for_stream=True, storage=storage)
    # A standby writes to the default claim: only a Recording that does too adopts it.
    adoptable = current is None and on_default_claim(storage, recordings) and stream.spec.recording.standby
    adopt = standby if standby and adoptable else None
    return replace(with_stream, create_claim=create_claim, recorder=True, adopt=adopt)


# --- the second phase: what depends on a write's answer -----------------------------------------


def adopted(pod: Manifest | None) -> bool:
    """The recorder is an adopted standby: it is configured by POST /start, never rolled."""
    return pod is not None and ADOPTED_ANNOTATION in (pod["metadata"].get("annotations") or {})


def start_config(plan: Plan, settings: OperatorSettings, observed: Observed, pod: Manifest) -> RecorderConfig:
    """What an adopted standby is sent by POST /start: the Recording's configuration on the port
    the standby listens on."""
    assert plan.stream is not None, "a recorder is planned for a stream"
    http_port = ports_of(pod).get("http", HTTP_PORT)
    return recorder_config(plan.recording, plan.stream, settings, observed.ingest_ports, http_port)


def wanted_pod(
    plan: Plan, settings: OperatorSettings, observed: Observed, host_ports: dict[str, int] | None
) -> Manifest:
    """The Recording's own recorder Pod; `host_ports`: its own, as kept or allocated."""
    assert plan.stream is not None, "a recorder is planned for a stream"
    return recorder_pod(
        plan.recording, plan.stream, settings, observed.ingest_ports, host_ports, observed.claim_access_modes
    )

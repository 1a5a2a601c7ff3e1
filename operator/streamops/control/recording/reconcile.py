"""Reconcile one Recording: the recordings PVC and the recorder Pod (a new one, or the stream's
adopted standby recorder), or no Pod when its storage's Secrets are missing or not labelled for
use by specs (tenancy.py), or the quota is full. Thin: the object parsed, what exists read
(observe.py), what is wanted decided (plan.py, pure), the plan carried out (apply.py);
docs/design/reconcile-plan.md. Status is written by the status loop from what the recorder reports."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import Recording
from streamops.api.recording import RecordingStorage
from streamops.contract.recorder import RecorderConfig
from streamops.control.recording.apply import Applied, apply_plan
from streamops.control.recording.observe import observe
from streamops.control.recording.plan import Plan, plan_recorder
from streamops.control.recording.status import SUCCEEDED
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.ports import PortAllocator
from streamops.control.workers.restarts import KEEP, PodChange
from streamops.kube.client import KubeApi, NamespaceTerminating
from streamops.kube.manifests import Body


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
    generation, recording = parsed.generation, parsed.obj
    if recording is None:
        return RecordingOutcome(generation, invalid_spec=parsed.problem)
    try:
        observed = observe(api, recording, settings, recorder, allocator is not None)
        plan = plan_recorder(
            recording, settings.recordings, observed, finalised_in_status(parsed.raw), standby, quota_full
        )
        applied = apply_plan(api, settings, plan, observed, allocator)
    except NamespaceTerminating:
        return RecordingOutcome(generation)
    return _outcome(generation, plan, applied)


def _outcome(generation: int | None, plan: Plan, applied: Applied) -> RecordingOutcome:
    """What the status loop is told: the plan's decisions, the writes' answers."""
    return RecordingOutcome(
        generation,
        waiting_for_stream=plan.waiting_for_stream,
        stream_uid=plan.stream.metadata.uid if plan.stream is not None else None,
        start_config=applied.start_config,
        storage=plan.storage,
        storage_refused=plan.storage_refused,
        no_space=plan.no_space,
        pod_change=applied.pod_change,
    )

"""Reconcile one Recording: the recordings PVC and the recorder Pod (a new one, or the stream's
adopted standby recorder), or no Pod when its storage's Secrets are missing or not labelled for
use by specs (tenancy.py), or the quota is full; and, when its status loop asks, the origin expiry
Pod (keepOrigin on a claim) made or removed. Thin: the object parsed, what exists read
(observe.py), what is wanted decided (plan.py, pure), the plan carried out (apply.py);
docs/design/reconcile-plan.md. Status is written by the status loop from what the recorder reports."""

from __future__ import annotations

from streamops.api import Recording
from streamops.control.recording.apply import Applied, apply_origin_expiry, apply_plan
from streamops.control.recording.observe import OriginExpiryAsk, observe
from streamops.control.recording.outcome import RecordingOutcome
from streamops.control.recording.plan import OriginExpiryPlan, Plan, plan_origin_expiry, plan_recorder
from streamops.control.recording.status import SUCCEEDED
from streamops.control.runtime.object_loop import utcnow
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse
from streamops.control.workers.ports import PortAllocator
from streamops.kube.client import KubeApi, NamespaceTerminating
from streamops.kube.manifests import Body


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
    origin_expiry_ended: str | None = None,
    expire_origins: bool | None = None,
) -> RecordingOutcome:
    """Idempotent. The recorder Pod exists from the start (it waits for the feed by itself, so it
    starts within a fraction of a second of the stream going live) until the Recording is stopped
    and its final status is written. `recorder` is the name of the Pod the pod index says is this
    Recording's (an adopted standby has its own name); `standby` the stream's warm recorder, which
    a Recording with no recorder yet adopts instead of creating a Pod (only when it records to the
    default claim, the standby's); `quota_full` (from the status loop's quota check): a Recording
    with no recorder yet gets none (a running one is finalised by its status loop);
    `origin_expiry_ended`: the origin expiry Pod the pod index shows ended (it goes, and the outcome
    says what it did), `expire_origins`: originals on the claim are due (a Pod is made to delete them)."""
    parsed = parse(Recording, body)
    generation, recording = parsed.generation, parsed.obj
    if recording is None:
        return RecordingOutcome(generation, invalid_spec=parsed.problem)
    try:
        ask = OriginExpiryAsk(origin_expiry_ended, bool(expire_origins))
        observed = observe(api, recording, settings, recorder, allocator is not None, ask)
        expiring = plan_origin_expiry(recording, settings, observed, utcnow())
        finalised, policy = finalised_in_status(parsed.raw), settings.worker.restart_policy
        plan = plan_recorder(recording, settings.recordings, observed, finalised, standby, quota_full, policy)
        apply_origin_expiry(api, recording, expiring)
        applied = apply_plan(api, settings, plan, observed, allocator)
    except NamespaceTerminating:
        return RecordingOutcome(generation)
    return _outcome(generation, plan, applied, expiring)


def _outcome(generation: int | None, plan: Plan, applied: Applied, expiring: OriginExpiryPlan) -> RecordingOutcome:
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
        handover_config=applied.handover_config,
        origin_expiry_ended=expiring.remove,
        cannot_move=plan.cannot_move,
    )

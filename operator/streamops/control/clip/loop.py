"""A Clip's status loop: its clipper's telemetry into status (see runtime/object_loop.py for what
every loop does); once the final status is written, a reconcile removes the clipper Pod. Before the
clipper exists it checks the recordings quotas (storage_quota.py): a full one refuses the Clip; once
the video is stored, retention deletes it after deleteAfterDays as a recording's (retention.py)."""

from __future__ import annotations

from dataclasses import replace

from streamops.api import CLIP, Clip, ClipStatus
from streamops.contract.clipper import ClipperStatus
from streamops.control.clip.reconcile import ClipOutcome, final_in_status, reconcile_clip
from streamops.control.clip.specs.names import CLIPPER_COMPONENT, clipper_pod_name
from streamops.control.clip.status import ClipperObservation, clip_events, clip_status, is_final
from streamops.control.runtime.decisions import validated
from streamops.control.runtime.indexes import Indexes, StreamFacts, worker_pod
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop, follow_storing_stream, utcnow
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.conditions import Transition
from streamops.control.storage.retention import Expiry, expire_videos
from streamops.control.storage.storage_quota import QuotaCheck
from streamops.control.storage.video_expiry import VIDEO_EXPIRY_FAILED
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.worker_client import TelemetryReader
from streamops.kube.manifests import Manifest

CLIP_LOOP = KindLoop(api=CLIP, reconcile=reconcile_clip, status_model=ClipStatus, metric_fields=frozenset())


def clip_update(
    loop: ObjectLoop[ClipOutcome],
    outcome: ClipOutcome,
    pod: PodObservation | None,
    telemetry: ClipperStatus | None,
    stream: StreamFacts | None,
    expiry: Expiry | None = None,
) -> tuple[Manifest, list[Transition], bool]:
    """The new status, its Events, and whether it is final."""
    raw = loop.raw()
    previous = loop.previous_status(raw, ClipStatus)
    clip = loop.valid_object(raw, Clip, outcome)
    if clip is None:
        return loop.invalid_spec_status(raw, outcome), [], False
    pod = pod or PodObservation(name=clipper_pod_name(loop.name))
    observation = replace(
        ClipperObservation.observe(pod, telemetry, stream, outcome.generation),
        refused=outcome.refused,
        storage=outcome.storage,
        storage_refused=outcome.storage_refused,
        expired=dict(expiry.expired) if expiry else {},
    )
    status = clip_status(clip, observation, utcnow())
    return status.wire(), clip_events(previous, status), is_final(status)


async def clip_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    loop = ObjectLoop(state, CLIP_LOOP, obj)
    reader = TelemetryReader(ClipperStatus)
    quota = QuotaCheck()
    expiry = Expiry()
    try:
        while loop.running:
            pod = worker_pod(indexes.pods, loop.namespace, CLIP.kind, loop.name, CLIPPER_COMPONENT)
            await loop.remove_lost_pods(pod)
            if pod is None and not final_in_status({"status": loop.writer.written}):  # (a clipper: too late)
                stream_ref = (loop.body.spec.get("streamRef") or {}).get("name", "")
                quota.check(state.settings, indexes, loop.namespace, stream_ref)
                loop.hints = {"no_space": quota.quota.describe() if quota.full and quota.quota else None}
                if quota.turned():
                    loop.requested = True  # the quota filled up before the clipper started
            outcome = await loop.reconciled()
            if outcome is None:
                await loop.sleep()
                continue
            stream, outcome = await follow_storing_stream(loop, indexes.streams, outcome)
            pod = worker_pod(indexes.pods, loop.namespace, CLIP.kind, loop.name, CLIPPER_COMPONENT)
            loop.report_restarts((loop.body.spec.get("streamRef") or {}).get("name", ""), {"clipper": [pod]})
            telemetry = await reader.read(state.client, pod) if state.client else None
            written = validated(ClipStatus, loop.writer.written)
            if written is not None:
                swept = await expire_videos(loop.state, loop.namespace, expiry, written.storage, written.videos)
                if swept.warning is not None:
                    await loop.post_event("Warning", VIDEO_EXPIRY_FAILED, swept.warning)
                if swept.deleted:
                    loop.woken.set()  # (the status is written on this tick's way round)
            expired = tuple(expiry.expired.items())
            inputs = (loop.body.metadata.get("generation"), outcome, pod, telemetry, stream, expired)
            if loop.changed(inputs):
                new, events, final = clip_update(loop, outcome, pod, telemetry, stream, expiry)
                await loop.write(new, events)
                if final and pod is not None:
                    await loop.reconcile(final=True)  # final status written: the clipper Pod can go
            await loop.sleep(pod)
    finally:
        loop.close()

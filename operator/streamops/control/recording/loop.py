"""A Recording's status loop: its recorder's telemetry and its stream's facts into status; it also
does what only it can do: hand an adopted standby recorder its configuration (POST /start), ask a
stopped recorder to finalise (POST /stop: spec.stopped, or the quota is full), remove the recorder
Pod once the final status is written, check the quotas (from the Recording and Clip indexes) and delete the
videos retention expired, and the originals (keepOrigin) past their deleteAt (see runtime/object_loop.py for
what every loop does)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime

from streamops.api import LIVESTREAM, RECORDING, Recording, RecordingStatus
from streamops.contract.recorder import RecorderStatus
from streamops.contract.worker import START_PATH, STOP_PATH
from streamops.control.recording.origin_expiry import OriginExpiry, expire_origins
from streamops.control.recording.reconcile import RecordingOutcome, reconcile_recording
from streamops.control.recording.specs.names import recorder_pod_name
from streamops.control.recording.specs.origin_expiry_pod import ORIGIN_EXPIRY_COMPONENT
from streamops.control.recording.status import SUCCEEDED, RecorderObservation, recording_events, recording_status
from streamops.control.runtime.decisions import validated
from streamops.control.runtime.indexes import Indexes, StreamFacts, worker_pod
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop, follow_storing_stream, utcnow
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.conditions import Transition
from streamops.control.storage.recorder_pod import RECORDER_COMPONENT, STANDBY_COMPONENT
from streamops.control.storage.recordings_claim import videos_claim
from streamops.control.storage.retention import Expiry, expire_videos
from streamops.control.storage.storage_quota import QuotaCheck
from streamops.control.storage.video_expiry import VIDEO_EXPIRY_FAILED
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.worker_client import TelemetryReader, post
from streamops.kube.manifests import Manifest

RECORDING_LOOP = KindLoop(
    api=RECORDING,
    reconcile=reconcile_recording,
    status_model=RecordingStatus,
    metric_fields=frozenset({"duration", "storedBytes"}),
)
START_AGAIN_SECONDS = 2.0  # a standby that still waits after a POST /start is sent it again
log = logging.getLogger("streamops.operator")


@dataclass
class Extras:
    """What the loop knows besides the outcome, the Pod, its telemetry and the stream: the quota
    (storage_quota.py), the videos retention deleted (url -> when) and the originals (url or path -> when)."""

    quota: QuotaCheck = field(default_factory=QuotaCheck)
    expiry: Expiry = field(default_factory=Expiry)
    origins: OriginExpiry = field(default_factory=OriginExpiry)

    def expired(self) -> dict[str, datetime]:
        return {**self.expiry.expired, **self.origins.expired}


def recording_update(
    loop: ObjectLoop[RecordingOutcome],
    outcome: RecordingOutcome,
    pod: PodObservation | None,
    telemetry: RecorderStatus | None,
    stream: StreamFacts | None,
    extras: Extras | None = None,
) -> tuple[Manifest, list[Transition], bool]:
    """The new status, its Events, and whether it is final (see livestream_update)."""
    raw = loop.raw()
    previous = loop.previous_status(raw, RecordingStatus)
    recording = loop.valid_object(raw, Recording, outcome)
    if recording is None:
        return loop.invalid_spec_status(raw, outcome), [], False
    extras = extras or Extras()
    pod = pod or PodObservation(name=recorder_pod_name(loop.name))
    refused = outcome.storage_refused  # (a missing Secret does not stop a recorder that runs; the policy does)
    observation = replace(
        RecorderObservation.observe(pod, telemetry, stream, outcome.generation),
        restart_pending=outcome.pod_change.part if outcome.pod_change.action == "wait" else None,
        storage=outcome.storage,
        storage_refused=refused if refused is not None and (refused.by_policy or not pod.exists) else None,
        quota=extras.quota.quota,
        quota_refused=outcome.no_space and not pod.exists,
        expired=extras.expired(),
        videos_url=loop.state.settings.recordings.videos_url,
        videos_claim=videos_claim(loop.state.settings.recordings) or "",
    )
    status = recording_status(recording, observation, utcnow())
    final = status.condition(SUCCEEDED) is not None
    return status.wire(), recording_events(previous, status), final


async def expire(loop: ObjectLoop[RecordingOutcome], extras: Extras, indexes: Indexes) -> None:
    """Videos and origin copies past their retention. (The status as its model lives only here: a
    loop that held it while it sleeps kept one for every Recording, ≈3.5 KB each.)"""
    written = validated(RecordingStatus, loop.writer.written)
    if written is not None:
        swept = await expire_videos(loop.state, loop.namespace, extras.expiry, written.storage, written.videos)
        if swept.warning is not None:
            await loop.post_event("Warning", VIDEO_EXPIRY_FAILED, swept.warning)
        if swept.deleted:
            loop.woken.set()  # (the status is written on this tick's way round)
        expiring = worker_pod(indexes.pods, loop.namespace, RECORDING.kind, loop.name, ORIGIN_EXPIRY_COMPONENT)
        await expire_origins(loop, extras.origins, written.storage, written.videos, expiring)


async def recording_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    loop = ObjectLoop(state, RECORDING_LOOP, obj)
    reader = TelemetryReader(RecorderStatus)
    extras = Extras()
    stop_sent_to = ""
    stopping: asyncio.Task[None] | None = None  # the POST /stop in flight (a reference keeps it alive)
    starting: asyncio.Task[None] | None = None  # the POST /start to an adopted standby
    start_sent_at = 0.0
    try:
        while loop.running:
            pod = worker_pod(indexes.pods, loop.namespace, RECORDING.kind, loop.name, RECORDER_COMPONENT)
            await loop.remove_lost_pods(pod)
            stream_ref = (loop.body.spec.get("streamRef") or {}).get("name", "")
            standby = worker_pod(indexes.pods, loop.namespace, LIVESTREAM.kind, stream_ref, STANDBY_COMPONENT)
            extras.quota.check(state.settings, indexes, loop.namespace, stream_ref)
            loop.hints = {
                "recorder": pod.name if pod else None,
                "standby": standby.name if standby else None,
                "quota_full": extras.quota.full,
            }
            if extras.quota.turned() and pod is None:
                loop.requested = True  # space came back (or ran out) before the recorder started
            outcome = await loop.reconciled()
            if outcome is None:
                await loop.sleep()
                continue
            await loop.announce_replaced(outcome, {"recorder": (recorder_pod_name(loop.name), outcome.pod_change)})
            stream, outcome = await follow_storing_stream(loop, indexes.streams, outcome)
            await loop.announce_replaced(outcome, {"recorder": (recorder_pod_name(loop.name), outcome.pod_change)})
            pod = worker_pod(indexes.pods, loop.namespace, RECORDING.kind, loop.name, RECORDER_COMPONENT)
            loop.report_restarts(stream_ref, {"recorder": [pod]})
            client = state.client
            telemetry = await state.read_worker(reader, pod, loop.namespace, stream_ref)
            auth = await state.worker_headers(loop.namespace, stream_ref) if pod is not None else {}
            stopped_spec = bool(loop.body.spec.get("stopped"))
            if client is not None and pod is not None and telemetry is not None:
                waiting = telemetry.state == "standby"
                start_due = time.monotonic() - start_sent_at > START_AGAIN_SECONDS
                if waiting and outcome.start_config and not stopped_spec and start_due and not extras.quota.full:
                    # An adopted standby (or one that restarted since): hand it the Recording.
                    start_sent_at = time.monotonic()
                    starting = asyncio.get_running_loop().create_task(
                        post(client, pod, START_PATH, outcome.start_config, headers=auth)
                    )
                finalise = stopped_spec or (extras.quota.full and not waiting)
                if finalise and telemetry.state != "stopped" and stop_sent_to != pod.uid:
                    # stop_recording, or no space left: the recorder finalises and keeps serving /status.
                    stop_sent_to = pod.uid
                    stopping = asyncio.get_running_loop().create_task(post(client, pod, STOP_PATH, headers=auth))
            if outcome.pod_change.action == "wait" and telemetry is not None and telemetry.state != "recording":
                loop.requested = True  # the recorder that waited for its restart is idle now
            await expire(loop, extras, indexes)
            # (A recorder stuck on its volumes is said to be once STORAGE_WAIT_SECONDS have passed.)
            stuck = bool(pod and pod.storage_stuck(utcnow()))
            expired = tuple(extras.expired().items())
            inputs = (
                loop.body.metadata.get("generation"),
                outcome,
                pod,
                telemetry,
                stream,
                stuck,
                extras.quota.quota,
                expired,
            )
            if loop.changed(inputs):
                new, events, final = recording_update(loop, outcome, pod, telemetry, stream, extras)
                await loop.write(new, events)
                if stopped_spec and pod is not None and final:
                    await loop.reconcile()  # final status written: the recorder Pod can go
            await loop.sleep(pod)
    finally:
        for task in (stopping, starting):
            if task is not None:
                task.cancel()
        loop.close()

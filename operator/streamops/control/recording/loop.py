"""A Recording's status loop: its recorder's telemetry and its stream's facts into status; it also
does what only it can do: hand an adopted standby recorder its configuration (POST /start), ask a
stopped recorder to finalise (POST /stop) and remove the recorder Pod once the final status is
written (see shared/object_loop.py for what every loop does)."""

from __future__ import annotations

import asyncio
import time

import kopf

from streamops.api import LIVESTREAM, RECORDING, Recording, RecordingStatus
from streamops.contract.recorder import RecorderStatus
from streamops.contract.worker import START_PATH, STOP_PATH
from streamops.control.recording.builders import RECORDER_COMPONENT, STANDBY_COMPONENT, recorder_pod_name
from streamops.control.recording.reconcile import RecordingOutcome, reconcile_recording
from streamops.control.recording.status import SUCCEEDED, RecorderObservation, recording_events, recording_status
from streamops.control.shared.conditions import Transition
from streamops.control.shared.indexes import Indexes, StreamFacts, worker_pod
from streamops.control.shared.manifests import Manifest
from streamops.control.shared.object_loop import KindLoop, ObjectLoop, follow_stream, utcnow
from streamops.control.shared.pod_observation import PodObservation
from streamops.control.shared.state import OperatorState
from streamops.control.shared.worker_client import TelemetryReader, post

RECORDING_LOOP = KindLoop(
    api=RECORDING,
    reconcile=reconcile_recording,
    status_model=RecordingStatus,
    metric_fields=frozenset({"duration"}),
)
START_AGAIN_SECONDS = 2.0  # a standby that still waits after a POST /start is sent it again


def recording_update(
    loop: ObjectLoop[RecordingOutcome],
    outcome: RecordingOutcome,
    pod: PodObservation | None,
    telemetry: RecorderStatus | None,
    stream: StreamFacts | None,
) -> tuple[Manifest, list[Transition], bool]:
    """The new status, its Events, and whether it is final (see livestream_update)."""
    raw = loop.raw()
    previous = loop.previous_status(raw, RecordingStatus)
    recording = loop.valid_object(raw, Recording, outcome)
    if recording is None:
        return loop.invalid_spec_status(raw, outcome), [], False
    pod = pod or PodObservation(name=recorder_pod_name(loop.name))
    observation = RecorderObservation.observe(pod, telemetry, stream, outcome.generation)
    status = recording_status(recording, observation, utcnow())
    final = status.condition(SUCCEEDED) is not None
    return status.wire(), recording_events(previous, status), final


async def recording_loop(state: OperatorState, body: kopf.Body, stopped: kopf.DaemonStopped, indexes: Indexes) -> None:
    loop = ObjectLoop(state, RECORDING_LOOP, body)
    reader = TelemetryReader(RecorderStatus)
    stop_sent_to = ""
    stopping: asyncio.Task[None] | None = None  # the POST /stop in flight (a reference keeps it alive)
    starting: asyncio.Task[None] | None = None  # the POST /start to an adopted standby
    start_sent_at = 0.0
    try:
        while not stopped:
            pod = worker_pod(indexes.pods, loop.namespace, RECORDING.kind, loop.name, RECORDER_COMPONENT)
            await loop.remove_lost_pods(pod)
            stream_ref = (body.spec.get("streamRef") or {}).get("name", "")
            standby = worker_pod(indexes.pods, loop.namespace, LIVESTREAM.kind, stream_ref, STANDBY_COMPONENT)
            loop.hints = {"recorder": pod.name if pod else None, "standby": standby.name if standby else None}
            outcome = await loop.reconciled()
            if outcome is None:
                await loop.sleep()
                continue
            stream, outcome = await follow_stream(loop, indexes.streams, outcome)
            pod = worker_pod(indexes.pods, loop.namespace, RECORDING.kind, loop.name, RECORDER_COMPONENT)
            client = state.client
            telemetry = await reader.read(client, pod) if client else None
            stopped_spec = bool(body.spec.get("stopped"))
            if client is not None and pod is not None and telemetry is not None:
                waiting = telemetry.state == "standby"
                start_due = time.monotonic() - start_sent_at > START_AGAIN_SECONDS
                if waiting and outcome.start_config and not stopped_spec and start_due:
                    # An adopted standby (or one that restarted since): hand it the Recording.
                    start_sent_at = time.monotonic()
                    starting = asyncio.get_running_loop().create_task(
                        post(client, pod, START_PATH, outcome.start_config)
                    )
                if stopped_spec and telemetry.state != "stopped" and stop_sent_to != pod.uid:
                    stop_sent_to = pod.uid  # stop_recording: the recorder finalises and keeps serving /status
                    stopping = asyncio.get_running_loop().create_task(post(client, pod, STOP_PATH))
            # (A recorder stuck on its volumes is said to be once STORAGE_WAIT_SECONDS have passed.)
            stuck = bool(pod and pod.storage_stuck(utcnow()))
            inputs = (body.metadata.get("resourceVersion"), outcome, pod, telemetry, stream, stuck)
            if loop.changed(inputs):
                new, events, final = recording_update(loop, outcome, pod, telemetry, stream)
                await loop.write(new, events)
                if stopped_spec and pod is not None and final:
                    await loop.reconcile()  # final status written: the recorder Pod can go
            await loop.sleep(pod)
    finally:
        for task in (stopping, starting):
            if task is not None:
                task.cancel()
        loop.close()

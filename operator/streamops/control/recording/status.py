"""Recording status, computed only from what is observed: the recorder Pod, the recorder's
/status, and whether the stream is live."""

from __future__ import annotations

from datetime import datetime

from streamops.api import Recording, RecordingStatus
from streamops.contract.recorder import RecorderStatus
from streamops.control.recording import reasons
from streamops.control.shared.conditions import (
    READY,
    RECONCILING,
    Observed,
    Transition,
    condition_transitions,
    merge_conditions,
    ready_and,
    stream_not_found,
    stream_not_live,
    worker_on_its_way,
)
from streamops.control.shared.follower import FollowerObservation
from streamops.control.shared.pod_observation import PodObservation, pod_problem_events, worker_pod_condition

RECORDING = "Recording"  # the Recording's own condition: the recorder is recording
SUCCEEDED = "Succeeded"  # stopped, and every video finalised


class RecorderObservation(FollowerObservation[RecorderStatus]):
    """The recorder Pod, the recorder's /status and the stream."""


def is_finalised(recording: Recording, observed: RecorderObservation) -> bool:
    """Stopped, and the recorder said it is done (or there is no recorder left to finish)."""
    if not recording.spec.stopped:
        return False
    if observed.telemetry is not None:
        return observed.telemetry.state == "stopped"
    return not observed.pod.running


def _pod_condition(pod: PodObservation, now: datetime) -> Observed:
    running = (reasons.RECORDER_STARTING, f"recorder Pod {pod.name} is starting to record")
    return worker_pod_condition(pod, "recorder", reasons.RECORDER_POD, running, now)


def recording_status(recording: Recording, observed: RecorderObservation, now: datetime) -> RecordingStatus:
    previous = recording.status or RecordingStatus()
    generation = observed.acted_generation(recording.metadata.generation)
    t = observed.telemetry
    stream = recording.spec.stream_ref.name

    recording_now = bool(t and t.recording)
    if t is not None:
        started_at = t.started_at or previous.started_at
        ended_at = t.ended_at
        duration = round(t.duration, 0) if t.duration is not None else previous.duration
        videos = t.videos or previous.videos
        discarded = t.discarded or previous.discarded
    else:  # the recorder is not there to ask: what it reported last still stands
        started_at, ended_at, duration = previous.started_at, previous.ended_at, previous.duration
        videos, discarded = previous.videos, previous.discarded

    finalised = is_finalised(recording, observed)
    conditions: list[Observed]
    if finalised:
        ended_at = ended_at or previous.ended_at or now
        message = f"stopped: {len(videos)} video(s) saved"
        conditions = [
            Observed(READY, "True", reasons.FINISHED, message),
            Observed(SUCCEEDED, "True", reasons.FINISHED, message),
            Observed(RECORDING, "False", reasons.STOPPED, "spec.stopped is true"),
        ]
    elif recording.spec.stopped:
        conditions = [
            Observed(READY, "False", reasons.STOPPING, "finalising the videos"),
            Observed(RECONCILING, "True", reasons.STOPPING, "finalising the videos"),
            Observed(RECORDING, "False", reasons.STOPPING, "finalising the videos"),
        ]
    elif recording_now:
        state = t.state if t is not None else "recording"
        message = (
            f"source gone: waiting for {stream} to come back within the reconnect window"
            if state == "reconnecting"
            else f"recording {stream}"
        )
        conditions = ready_and(RECORDING, "True", "True", reasons.RECORDING, message)
    elif observed.pod.evicted_from_lost_node:
        # Said before the stream's state: its ingest may have been on the same node.
        conditions = worker_on_its_way(RECORDING, _pod_condition(observed.pod, now))
    elif not observed.stream_exists:
        conditions = stream_not_found(RECORDING, stream)
    elif observed.pod.cannot_start(now):
        # Said while the stream is offline too: a recorder that cannot run would miss the next live
        # session, and the time to fix its node or claim is before that session starts.
        conditions = worker_on_its_way(RECORDING, _pod_condition(observed.pod, now))
    elif not observed.stream_live:
        conditions = stream_not_live(RECORDING, stream, observed.stream_backup_only)
    else:
        conditions = worker_on_its_way(RECORDING, _pod_condition(observed.pod, now))

    if t is not None and t.last_error and not finalised:
        conditions = [
            c
            if c.type != READY
            else Observed(c.type, c.status, c.reason, f"{c.message}; last error: {t.last_error}"[:4096])
            for c in conditions
        ]

    return RecordingStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, conditions, generation, now),
        recording=recording_now and not finalised,
        started_at=started_at,
        ended_at=ended_at if (finalised or ended_at) else None,
        duration=duration,
        videos=videos,
        discarded=discarded,
    )


def recording_events(previous: RecordingStatus | None, current: RecordingStatus) -> list[Transition]:
    """Recording started / split / finished / discarded (and Ready transitions)."""
    before = previous or RecordingStatus()
    events = condition_transitions(before.conditions, current.conditions)
    events += pod_problem_events(before.conditions, current.conditions, reasons.RECORDER_POD)
    if current.recording and not before.recording:
        events.append(Transition("Normal", reasons.RECORDING_STARTED, "the recorder is recording the stream"))
    known = {v.path for v in before.videos}
    for video in current.videos:
        if video.path in known:
            continue
        what = f"video {video.path} saved ({video.duration_seconds:.1f} s, {video.size_bytes} bytes): {video.title}"
        if current.recording:
            events.append(Transition("Normal", reasons.RECORDING_SPLIT, what + "; recording continues in a new video"))
        else:
            events.append(Transition("Normal", reasons.RECORDING_FINISHED, what))
    seen = {(d.at, d.reason) for d in before.discarded}
    for d in current.discarded:
        if (d.at, d.reason) not in seen:
            events.append(Transition("Warning", reasons.RECORDING_DISCARDED, f"fragment discarded: {d.reason}"))
    return events

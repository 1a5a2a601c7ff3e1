"""Recording status, computed only from what is observed: the recorder Pod, the recorder's
/status, and whether the stream is live."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from streamops.api import Recording, RecordingStatus
from streamops.api.common import Condition
from streamops.api.recording import RecordingStorage, Video
from streamops.contract import video_link
from streamops.contract.recorder import RecorderStatus
from streamops.control.recording import reasons
from streamops.control.runtime.follower import FollowerObservation
from streamops.control.shared.conditions import (
    READY,
    RECONCILING,
    STALLED,
    Observed,
    Transition,
    condition_transitions,
    merge_conditions,
    ready_and,
    restart_pending,
    stream_not_found,
    stream_not_live,
    worker_on_its_way,
)
from streamops.control.storage.storage_quota import QuotaUse, no_space_message
from streamops.control.storage.video_expiry import expiry_events, marked_expired, origin_expiry_events
from streamops.control.storage.video_storage import StorageRefusal as StorageRefusal  # (re-exported)
from streamops.control.workers.pod_observation import PodObservation, pod_problem_events, worker_pod_condition

RECORDING = "Recording"  # the Recording's own condition: the recorder is recording
SUCCEEDED = "Succeeded"  # stopped, and every video finalised
UPLOADED = reasons.UPLOADED  # object storage: every video is in the bucket
NO_SPACE = reasons.NO_SPACE  # only while true: the quota (or the recorder's disk) is full
STORAGE_ALMOST_FULL = reasons.STORAGE_ALMOST_FULL  # only while true: 80 % of a quota
STORAGE_PROBLEMS = ("StorageUnreachable", "StorageAccessDenied", "BucketNotFound", "UploadFailing")
WAITING_UPLOADS = ("pending", "uploading")


@dataclass(frozen=True)
class RecorderObservation(FollowerObservation[RecorderStatus]):
    """The recorder Pod, the recorder's /status and the stream; what the reconcile found (the
    resolved storage, a refusal), the quota's usage, and the videos retention just deleted."""

    storage: RecordingStorage | None = None  # None: not resolved this time (the status keeps its own)
    storage_refused: StorageRefusal | None = None
    quota: QuotaUse | None = None
    quota_refused: bool = False  # no recorder Pod: the quota was full before it started
    expired: Mapping[str, datetime] = field(default_factory=dict)  # video url, original's url or path -> deleted at
    videos_url: str = ""  # the operator's recordings_videos_url: the edge serving claims (empty: none)
    videos_claim: str = ""  # the claim that edge serves (edge.videos_claim; empty: none)


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


def merged_videos(previous: Sequence[Video], reported: Sequence[Video], expired: Mapping[str, datetime]) -> list[Video]:
    """The recorder's videos, and the ones it no longer reports (a new recorder Pod with fresh scratch
    space knows only its own), oldest first; a video is the same one by url or by path (its local
    path goes once uploaded); `expiredAt` once set stays, and is set for those just deleted (its
    original's too: the recorder never says an original expired, the operator does)."""
    before = {key: v for v in previous for key in (v.url, v.path) if key}
    seen: set[int] = set()
    videos: list[Video] = []
    for v in reported:
        old = next((before[k] for k in (v.url, v.path) if k and k in before), None)
        if old is not None:
            seen.add(id(old))
        old_origin = old.origin if old is not None else None
        origin_at = old_origin.expired_at if old_origin is not None else None
        videos.append(marked_expired(v, old.expired_at if old else None, expired, origin_at))
    videos += [marked_expired(v, v.expired_at, expired) for v in previous if id(v) not in seen]
    return sorted(videos, key=lambda v: v.started_at)


def claim_links(
    videos: Sequence[Video], stream: str, storage: RecordingStorage | None, base: str, namespace: str, served: str
) -> list[Video]:
    """Each video with its stream (the hosted stream_id: a video recorded before the recorder wrote
    it gets the Recording's), and a video on the claim `served` with its unsigned download and page
    URLs at the edge `base` ({namespace} replaced); a video whose path a link cannot name gets none."""
    claim = storage.pvc.claim_name if storage is not None and storage.pvc is not None and storage.s3 is None else None
    claim = claim if claim == served else None
    base = base.replace("{namespace}", namespace)
    linked = []
    for video in videos:
        update: dict[str, object] = {} if video.stream else {"stream": stream}
        if claim and base and video.path and video.url is None and video.expired_at is None:
            try:
                update["download_url"] = video_link.unsigned_url(base, claim, video.path)
                update["page_url"] = video_link.unsigned_url(base, claim, video_link.page_path(video.path))
            except video_link.UnsafePath:
                pass
        linked.append(video.model_copy(update=update) if update else video)
    return linked


def stored_bytes(
    videos: Sequence[Video], telemetry: RecorderStatus | None, previous: RecordingStatus, finalised: bool
) -> int:
    """The videos not expired, and the one in progress (the recorder's count beyond its finished
    videos; without a recorder to ask, what was counted before)."""
    kept = sum(v.stored_size() for v in videos if v.expired_at is None)
    if telemetry is not None:
        in_progress = telemetry.stored_bytes - sum(v.stored_size() for v in telemetry.videos)
    elif finalised:
        in_progress = 0
    else:
        in_progress = (previous.stored_bytes or 0) - sum(
            v.stored_size() for v in previous.videos if v.expired_at is None
        )
    return kept + max(0, in_progress)


def _uploaded_condition(
    bucket: str, videos: Sequence[Video], t: RecorderStatus | None, previous: Condition | None
) -> Observed:
    waiting = [v for v in videos if v.upload in WAITING_UPLOADS and v.expired_at is None]
    if t is not None and t.storage_problem:
        return Observed(UPLOADED, "False", t.storage_problem, t.storage_error or t.storage_problem)
    if t is None and waiting and previous is not None and previous.reason in STORAGE_PROBLEMS:
        return Observed(UPLOADED, "False", previous.reason, previous.message)  # (no recorder to say otherwise)
    if waiting:
        return Observed(UPLOADED, "False", reasons.UPLOAD_PENDING, f"{len(waiting)} video(s) waiting for s3://{bucket}")
    done = sum(1 for v in videos if v.upload == "uploaded")
    return Observed(UPLOADED, "True", reasons.UPLOADED, f"all {done} video(s) in s3://{bucket}")


def _quota_stopped(recording: Recording, t: RecorderStatus | None) -> bool:
    """The recorder finalised without spec.stopped: only the status loop asks that, when the quota
    is full."""
    return not recording.spec.stopped and t is not None and t.state == "stopped"


def _with_message(conditions: list[Observed], type_: str, extra: str) -> list[Observed]:
    return [
        c if c.type != type_ else Observed(c.type, c.status, c.reason, f"{c.message}; {extra}"[:4096])
        for c in conditions
    ]


def recording_status(recording: Recording, observed: RecorderObservation, now: datetime) -> RecordingStatus:  # noqa: C901 (listed in ruff.toml: split it when next changed)
    previous = recording.status or RecordingStatus()
    generation = observed.acted_generation(recording.metadata.generation)
    t = observed.telemetry
    stream = recording.spec.stream_ref.name
    storage = observed.storage or previous.storage
    s3 = storage.s3 if storage is not None else None

    recording_now = bool(t and t.recording)
    if t is not None:
        started_at = t.started_at or previous.started_at
        ended_at = t.ended_at
        duration = round(t.duration, 0) if t.duration is not None else previous.duration
        discarded = t.discarded or previous.discarded
    else:  # the recorder is not there to ask: what it reported last still stands
        started_at, ended_at, duration = previous.started_at, previous.ended_at, previous.duration
        discarded = previous.discarded
    videos = merged_videos(previous.videos, t.videos if t is not None else [], observed.expired)
    namespace = recording.metadata.namespace or ""
    videos = claim_links(videos, stream, storage, observed.videos_url, namespace, observed.videos_claim)

    finalised = is_finalised(recording, observed)
    quota = observed.quota
    no_space = no_space_message(quota)
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
    elif observed.storage_refused is not None and (observed.storage_refused.by_policy or not recording_now):
        refused = observed.storage_refused
        conditions = [
            Observed(READY, "False", refused.reason, refused.message),
            Observed(STALLED, "True", refused.reason, refused.message),
            Observed(RECORDING, "False", refused.reason, refused.message),
        ]
    elif observed.quota_refused or _quota_stopped(recording, t):
        if _quota_stopped(recording, t):
            no_space = f"{no_space}; the recording was finalised"
        conditions = ready_and(RECORDING, "False", "False", reasons.NO_SPACE, no_space)
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

    if t is not None and not finalised:
        # Recording goes on locally while uploads fail: Ready stays as it is, and says so.
        if s3 is not None and t.storage_problem:
            problem = f"uploads to s3://{s3.bucket} fail ({t.storage_problem}): {t.storage_error or ''}".rstrip(": ")
            conditions = _with_message(conditions, READY, problem)
        if t.last_error and t.last_error != t.storage_error:
            conditions = _with_message(conditions, READY, f"last error: {t.last_error}")

    if s3 is not None:
        conditions.append(_uploaded_condition(s3.bucket, videos, t, previous.condition(UPLOADED)))
    if observed.quota_refused or _quota_stopped(recording, t):
        conditions.append(Observed(NO_SPACE, "True", reasons.NO_SPACE, no_space))
    elif t is not None and t.no_space and not finalised:
        disk = t.last_error or "the recorder's volume is full: the video was closed"
        conditions.append(Observed(NO_SPACE, "True", reasons.DISK_FULL, disk))
    if quota is not None and quota.level == "almost" and not finalised:
        conditions.append(Observed(STORAGE_ALMOST_FULL, "True", reasons.STORAGE_ALMOST_FULL, quota.describe()))

    if observed.restart_pending and not finalised:
        conditions += restart_pending({"recorder": observed.restart_pending})

    return RecordingStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, conditions, generation, now),
        recording=recording_now and not finalised,
        started_at=started_at,
        ended_at=ended_at if (finalised or ended_at) else None,
        duration=duration,
        videos=videos,
        discarded=discarded,
        storage=storage,
        stored_bytes=stored_bytes(videos, t, previous, finalised),
    )


def _appeared(before: RecordingStatus, current: RecordingStatus, type_: str) -> Condition | None:
    """The condition when it is True now and was not before."""
    now, then = current.condition(type_), before.condition(type_)
    if now is None or now.status != "True" or (then is not None and then.status == "True"):
        return None
    return now


def _upload_events(before: RecordingStatus, current: RecordingStatus) -> list[Transition]:
    """VideoUploaded per video, and the Uploaded condition's problems coming and going."""
    events = []
    was_uploaded = {v.url for v in before.videos if v.upload == "uploaded"}
    for v in current.videos:
        if v.url and v.upload == "uploaded" and v.url not in was_uploaded:
            what = f"video uploaded to {v.url} ({v.duration_seconds:.1f} s, {v.size_bytes} bytes): {v.title}"
            events.append(Transition("Normal", reasons.VIDEO_UPLOADED, what))
    now, then = current.condition(UPLOADED), before.condition(UPLOADED)
    then_problem = then is not None and then.reason in STORAGE_PROBLEMS
    if now is not None and now.reason in STORAGE_PROBLEMS and (then is None or then.reason != now.reason):
        events.append(Transition("Warning", now.reason, now.message or now.reason))
    elif now is not None and then_problem and now.reason not in STORAGE_PROBLEMS:
        assert then is not None
        events.append(Transition("Normal", reasons.UPLOADED, f"uploads go through again (was {then.reason})"))
    return events


def recording_events(previous: RecordingStatus | None, current: RecordingStatus) -> list[Transition]:
    """Recording started / split / finished / discarded, uploads, expiry, space (and Ready transitions)."""
    before = previous or RecordingStatus()
    events = condition_transitions(before.conditions, current.conditions)
    events += pod_problem_events(before.conditions, current.conditions, reasons.RECORDER_POD)
    if current.recording and not before.recording:
        events.append(Transition("Normal", reasons.RECORDING_STARTED, "the recorder is recording the stream"))
    known = {key for v in before.videos for key in (v.path, v.url) if key}
    for video in current.videos:
        if video.path in known or video.url in known:
            continue
        where = video.path or video.url
        what = f"video {where} saved ({video.duration_seconds:.1f} s, {video.size_bytes} bytes): {video.title}"
        if current.recording:
            events.append(Transition("Normal", reasons.RECORDING_SPLIT, what + "; recording continues in a new video"))
        else:
            events.append(Transition("Normal", reasons.RECORDING_FINISHED, what))
    events += _upload_events(before, current)
    events += expiry_events(before.videos, current.videos, current.storage)
    events += origin_expiry_events(before.videos, current.videos)
    for type_ in (NO_SPACE, STORAGE_ALMOST_FULL):
        appeared = _appeared(before, current, type_)
        if appeared is not None:
            events.append(Transition("Warning", type_, appeared.message or type_))
    seen = {(d.at, d.reason) for d in before.discarded}
    for d in current.discarded:
        if (d.at, d.reason) not in seen:
            events.append(Transition("Warning", reasons.RECORDING_DISCARDED, f"fragment discarded: {d.reason}"))
    return events

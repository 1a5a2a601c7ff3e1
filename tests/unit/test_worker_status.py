"""Status of the three kinds from worker telemetry: pure functions, no cluster."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from devtools.catalog import livestream, recording, restream
from streamops.api import LiveStream, LiveStreamStatus, Recording, Restream
from streamops.contract.ingest import IngestStatus
from streamops.contract.pusher import PusherStatus
from streamops.contract.recorder import RecorderStatus
from streamops.control.livestream.deactivation import Deactivation, WorkerReport, worker_report
from streamops.control.livestream.status import (
    EndpointObservation,
    IngestObservation,
    PodObservation,
    RecordingFacts,
    livestream_events,
    livestream_status,
)
from streamops.control.recording.status import RecorderObservation, recording_events, recording_status
from streamops.control.restream.status import PusherObservation, redact_credentials, restream_events, restream_status
from streamops.control.shared.indexes import recording_entry, stream_entry, worker_pod_entry

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
RUNNING = PodObservation(name="p", exists=True, uid="u1", phase="Running", ready=True, ip="127.0.0.1", http_port=1)
SERVED = {"primary": EndpointObservation("cam-ingest", served=True)}  # its Service routes publishers to RUNNING
INGEST_LIVE = {
    "live": True,
    "active": True,
    "startedAt": "2026-11-22T07:59:50.123456+00:00",
    "finishedAt": None,
    "videoWidth": 1280,
    "videoHeight": 720,
    "videoCodec": "h264",
    "audioCodec": "aac",
    "frameRate": 29.97,
    "transcodingSpeed": 1.0012,
    "bitrate": 2500123,
}


def kinds(status):
    return {c.type: (c.status, c.reason) for c in status.conditions}


def stream(status=None, **spec) -> LiveStream:
    body = livestream("cam", **spec)
    body["metadata"].update(namespace="media", uid="s", generation=2)
    if status:
        body["status"] = status
    return LiveStream.model_validate(body)


def rec(status=None, **spec) -> Recording:
    body = recording("rec", **spec)
    body["metadata"].update(namespace="media", uid="r", generation=1)
    if status:
        body["status"] = status
    return Recording.model_validate(body)


def rst(status=None, **spec) -> Restream:
    body = restream("out", **spec)
    body["metadata"].update(namespace="media", uid="x", generation=1)
    if status:
        body["status"] = status
    return Restream.model_validate(body)


# --- LiveStream ---


def test_telemetry_fills_the_hosted_fields_and_wins_over_readiness():
    pod = PodObservation(name="cam-ingest", exists=True, uid="u", phase="Running", ready=False, ip="127.0.0.1")
    observed = IngestObservation({"primary": pod}, telemetry={"primary": ingest(INGEST_LIVE)}, generation=1)
    status = livestream_status(stream(), observed, T0)
    assert status.live is True and status.observed_generation == 1
    assert (status.video_width, status.video_height, status.video_codec, status.audio_codec) == (
        1280,
        720,
        "h264",
        "aac",
    )
    assert (status.frame_rate, status.transcoding_speed, status.bitrate) == (30.0, 1.0, 2500123)
    assert status.started_at_primary == datetime(2026, 11, 22, 7, 59, 50, tzinfo=UTC)
    assert kinds(status)["Live"] == ("True", "MediaFlowing")


def test_offline_keeps_history_and_drops_live_metrics():
    live = livestream_status(
        stream(),
        IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest(INGEST_LIVE)}, endpoints=SERVED),
        T0,
    )
    ended = {**INGEST_LIVE, "live": False, "finishedAt": "2026-11-22T08:00:05Z", "frameRate": None, "bitrate": None}
    status = livestream_status(
        stream(status=live.wire()),
        IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest(ended)}, endpoints=SERVED),
        T0,
    )
    assert status.live is False and status.frame_rate is None and status.bitrate is None
    assert status.finished_at_primary == datetime(2026, 11, 22, 8, 0, 5, tzinfo=UTC)
    forgot = livestream_status(
        stream(status=status.wire()),
        IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest({"live": False})}),
        T0,
    )
    assert forgot.started_at_primary == status.started_at_primary, "a restarted worker does not erase history"
    events = livestream_events(live, status)
    assert [(e.type, e.reason) for e in events] == [("Normal", "WentOffline")]
    first_visit = [e.reason for e in livestream_events(None, status)]
    assert first_visit == ["IngestRunning"], "Ready is announced, no WentOffline on the first visit"


PULL = {"pull": {"urls": ["rtmp://origin/live/a"]}}
GAVE_UP = {"live": False, "active": False, "deactivatedReason": "no data for 7200 s from any pull URL"}


def test_pull_stream_deactivated_by_its_worker():
    s = stream(source=PULL)
    status = livestream_status(s, IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest(GAVE_UP)}), T0)
    assert status.active is False and status.live is False
    assert kinds(status)["Ready"] == ("False", "Deactivated"), "the spec asks for a running stream: not Ready"
    assert kinds(status)["Live"] == ("False", "Deactivated")
    assert "Stalled" not in kinds(status) and "Reconciling" not in kinds(status), "nothing failed, nothing to wait for"
    message = status.condition("Ready").message
    assert "7200" in message and "streaming.streamops.dev/deactivated" in message, "says what activates it again"


def deactivated_record(s: LiveStream) -> Deactivation:
    return Deactivation(s.metadata.uid or "", s.metadata.generation or 0, GAVE_UP["deactivatedReason"])


def test_deactivation_recorded_on_the_stream_shows_with_no_ingest_and_says_the_same():
    s = stream(source=PULL)
    by_worker = livestream_status(
        s, IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest(GAVE_UP)}), T0
    )
    # Recorded on the LiveStream, its ingest Pod gone (deleted by the operator, or lost), the operator restarted.
    gone = PodObservation(name="cam-ingest")
    recorded = livestream_status(
        stream(status=by_worker.wire(), source=PULL),
        IngestObservation({"primary": gone}, deactivation=deactivated_record(s)),
        T0,
    )
    assert recorded.active is False and kinds(recorded) == kinds(by_worker)
    assert recorded.condition("Ready") == by_worker.condition("Ready"), "same message, same transition time"


def test_the_deactivated_event_is_posted_once():
    s = stream(source=PULL)
    running = livestream_status(
        s, IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest({})}, endpoints=SERVED), T0
    )
    assert kinds(running)["Ready"] == ("True", "IngestRunning")
    gave_up = livestream_status(
        stream(status=running.wire(), source=PULL),
        IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest(GAVE_UP)}),
        T0,
    )
    events = livestream_events(running, gave_up)
    assert [(e.type, e.reason) for e in events] == [("Warning", "Deactivated")]
    assert "7200" in events[0].message
    # Recorded, its Pod deleted; then the operator restarts (it reads the status it wrote): no Event again.
    recorded = livestream_status(
        stream(status=gave_up.wire(), source=PULL),
        IngestObservation({"primary": PodObservation(name="cam-ingest")}, deactivation=deactivated_record(s)),
        T0,
    )
    assert livestream_events(gave_up, recorded) == []
    restarted = LiveStreamStatus.model_validate(recorded.wire())
    again = livestream_status(
        stream(status=recorded.wire(), source=PULL),
        IngestObservation({"primary": PodObservation(name="cam-ingest")}, deactivation=deactivated_record(s)),
        T0,
    )
    assert livestream_events(restarted, again) == []


def test_a_pull_stream_deactivated_before_its_ingest_was_ready_warns_too():
    starting = PodObservation(name="cam-ingest", exists=True, uid="u1", phase="Pending")
    before = livestream_status(stream(source=PULL), IngestObservation({"primary": starting}), T0)
    assert kinds(before)["Ready"] == ("False", "IngestPending")
    s = stream(status=before.wire(), source=PULL)
    after = livestream_status(s, IngestObservation({"primary": starting}, deactivation=deactivated_record(s)), T0)
    assert [(e.type, e.reason) for e in livestream_events(before, after)] == [("Warning", "Deactivated")]


def test_switched_off_wins_over_deactivated():
    s = stream(source=PULL, active=False)
    status = livestream_status(s, IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest(GAVE_UP)}), T0)
    assert kinds(status)["Ready"] == ("True", "Inactive")


def test_worker_report_comes_from_a_running_ingest_that_gave_up():
    assert worker_report(RUNNING, ingest(GAVE_UP)) == WorkerReport("u1", GAVE_UP["deactivatedReason"])
    assert worker_report(RUNNING, ingest({"active": False})) == WorkerReport("u1", "no data from any pull URL")
    assert worker_report(RUNNING, ingest({})) is None, "still pulling"
    assert worker_report(RUNNING, None) is None
    assert worker_report(replace(RUNNING, deleting=True), ingest(GAVE_UP)) is None, "on its way out"


def test_recording_of_the_stream_shows_on_it():
    observed = IngestObservation({"primary": RUNNING}, recordings=(RecordingFacts("cam-auto", True, 12.4),))
    status = livestream_status(stream(), observed, T0)
    assert status.recording is True and status.recording_duration == 12.0
    assert kinds(status)["Recording"] == ("True", "Recording")


# --- Recording ---


RECORDER = {
    "state": "recording",
    "recording": True,
    "startedAt": "2026-11-22T08:00:00Z",
    "endedAt": None,
    "duration": 4.4,
    "videos": [],
    "discarded": [],
    "lastError": None,
}
VIDEO = {
    "title": "Stream Record: Camera, 2026-11-22 08:00:09 UTC",
    "path": "media/rec-r/record-20261122T080000Z.mp4",  # relative to the recordings root
    "durationSeconds": 9.0,
    "sizeBytes": 1234,
    "startedAt": "2026-11-22T08:00:00Z",
    "endedAt": "2026-11-22T08:00:09Z",
}


def test_recording_waits_for_the_stream():
    status = recording_status(
        rec(),
        RecorderObservation(pod=RUNNING, telemetry=recorder({**RECORDER, "state": "waiting", "recording": False})),
        T0,
    )
    assert kinds(status)["Ready"] == ("False", "StreamNotLive") and kinds(status)["Recording"] == (
        "False",
        "StreamNotLive",
    )
    missing = recording_status(rec(), RecorderObservation(pod=PodObservation("p"), stream_exists=False), T0)
    assert kinds(missing)["Ready"] == ("False", "StreamNotFound")
    starting = recording_status(rec(), RecorderObservation(pod=PodObservation("p"), stream_live=True), T0)
    assert kinds(starting)["Reconciling"] == ("True", "RecorderStarting")


def test_recording_mirrors_the_recorder_and_reports_videos_in_the_claim():
    status = recording_status(rec(), RecorderObservation(pod=RUNNING, telemetry=recorder(RECORDER)), T0)
    assert status.recording is True and status.started_at == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert kinds(status)["Recording"] == ("True", "Recording") and status.duration == 4.0
    split = {**RECORDER, "videos": [VIDEO], "duration": 12.0}
    after = recording_status(rec(status=status.wire()), RecorderObservation(pod=RUNNING, telemetry=recorder(split)), T0)
    assert after.videos[0].path == "media/rec-r/record-20261122T080000Z.mp4"
    assert [e.reason for e in recording_events(status, after)] == ["RecordingSplit"]
    assert [e.reason for e in recording_events(None, status)] == ["Recording", "RecordingStarted"]


def test_stop_finalises_and_discards_warn():
    stopping = recording_status(rec(stopped=True), RecorderObservation(pod=RUNNING, telemetry=recorder(RECORDER)), T0)
    assert kinds(stopping)["Ready"] == ("False", "Stopping") and kinds(stopping)["Reconciling"][0] == "True"
    done = {
        **RECORDER,
        "state": "stopped",
        "recording": False,
        "endedAt": "2026-11-22T08:00:10Z",
        "videos": [VIDEO],
        "discarded": [
            {
                "reason": "recorded 2.0 s, shorter than minDurationSeconds (10 s)",
                "durationSeconds": 2,
                "at": "2026-11-22T08:00:10Z",
            }
        ],
    }
    final = recording_status(
        rec(stopped=True, status=stopping.wire()), RecorderObservation(pod=RUNNING, telemetry=recorder(done)), T0
    )
    assert kinds(final)["Succeeded"] == ("True", "Finished") and kinds(final)["Ready"] == ("True", "Finished")
    assert final.recording is False and final.ended_at == datetime(2026, 11, 22, 8, 0, 10, tzinfo=UTC)
    reasons = [(e.type, e.reason) for e in recording_events(stopping, final)]
    assert ("Normal", "RecordingFinished") in reasons and ("Warning", "RecordingDiscarded") in reasons
    # The recorder Pod is gone afterwards: what it reported stands.
    gone = recording_status(rec(stopped=True, status=final.wire()), RecorderObservation(pod=PodObservation("p")), T0)
    assert gone.videos == final.videos and kinds(gone)["Succeeded"][0] == "True"


# --- Restream ---


PUSHER = {
    "live": True,
    "state": "live",
    "startedAt": "2026-11-22T08:00:01Z",
    "bytesSent": 1000,
    "reconnects": 0,
    "lastError": None,
}


def ingest(data: dict) -> IngestStatus:
    """A worker's /status answer as the operator reads it (the typed contract)."""
    return IngestStatus.model_validate(data)


def recorder(data: dict) -> RecorderStatus:
    return RecorderStatus.model_validate(data)


def pusher(data: dict) -> PusherStatus:
    return PusherStatus.model_validate(data)


def test_restream_lifecycle():
    waiting = restream_status(
        rst(),
        PusherObservation(pod=RUNNING, telemetry=pusher({**PUSHER, "live": False, "state": "waiting-for-source"})),
        T0,
    )
    assert kinds(waiting)["Ready"] == ("False", "StreamNotLive") and waiting.live is False
    live = restream_status(
        rst(status=waiting.wire()), PusherObservation(pod=RUNNING, telemetry=pusher(PUSHER), stream_live=True), T0
    )
    assert kinds(live)["Ready"] == ("True", "Pushing") and live.bytes_sent == 1000 and live.started_at
    assert "RestreamLive" in [e.reason for e in restream_events(waiting, live)]
    failing = {
        **PUSHER,
        "live": False,
        "state": "backoff",
        "reconnects": 1,
        "lastError": "rtmp://yt/live2/SECRETKEY: refused",
    }
    backoff = restream_status(
        rst(status=live.wire()), PusherObservation(pod=RUNNING, telemetry=pusher(failing), stream_live=True), T0
    )
    assert kinds(backoff)["Ready"] == ("False", "Backoff") and "SECRETKEY" not in backoff.model_dump_json()
    # Not a transition: the failure's Warning is the streak's one aggregated Event (test_restream_backoff_event.py).
    assert "RestreamBackoff" not in [e.reason for e in restream_events(live, backoff)]
    off = restream_status(rst(active=False, status=backoff.wire()), PusherObservation(pod=PodObservation("p")), T0)
    assert kinds(off)["Ready"] == ("True", "Inactive") and off.live is False and off.bytes_sent == 1000


def test_redaction_of_credentials():
    text = "rtmps://user:pw@a.example/app/streamkey123?key=abc&x=1 srt://h:1?passphrase=p4ss&streamid=s1"
    out = redact_credentials(text)
    for secret in ("user:pw", "streamkey123", "abc", "p4ss", "s1"):
        assert secret not in out
    assert "x=1" in out


# --- indexes ---


def test_index_entries_are_small_facts():
    pod = {
        "metadata": {
            "name": "cam-ingest",
            "namespace": "media",
            "uid": "p1",
            "labels": {"app.kubernetes.io/component": "ingest"},
            "ownerReferences": [
                {
                    "apiVersion": "streaming.streamops.dev/v1alpha1",
                    "kind": "LiveStream",
                    "name": "cam",
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 30001}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1"},
    }
    [(key, observed)] = worker_pod_entry(pod).items()
    assert key == ("media", "LiveStream", "cam", "ingest")
    assert observed.status_url == "http://127.0.0.1:30001/status"
    assert worker_pod_entry({"metadata": {"name": "x"}}) == {}
    s = stream_entry({"metadata": {"namespace": "media", "name": "cam", "uid": "u"}, "status": {"live": True}})
    assert s[("media", "cam")].live is True
    body = {
        "metadata": {"namespace": "media", "name": "rec"},
        "spec": {"streamRef": {"name": "cam"}},
        "status": {"recording": True, "duration": 3},
    }
    assert recording_entry(body)[("media", "cam")].recording is True


def test_restream_with_a_missing_key_secret_is_stalled():
    status = restream_status(rst(), PusherObservation(pod=PodObservation("p"), key_secret_missing="yt"), T0)
    assert kinds(status)["Stalled"] == ("True", "StreamKeySecretNotFound")
    assert kinds(status)["Ready"][0] == "False"


def test_backup_ingest_has_its_own_live_flag_and_events():
    s = stream(source={"push": {"backup": True}})
    backup_pod = PodObservation(name="cam-ingest-backup", exists=True, uid="b", phase="Running", ip="127.0.0.1")
    observed = IngestObservation(
        {"primary": RUNNING, "backup": backup_pod},
        telemetry={
            "primary": ingest({"live": False}),
            "backup": ingest({**INGEST_LIVE, "startedAt": "2026-11-22T08:00:00Z"}),
        },
    )
    quiet = {"primary": ingest({"live": False}), "backup": ingest({"live": False})}
    before = livestream_status(s, IngestObservation({"primary": RUNNING, "backup": backup_pod}, telemetry=quiet), T0)
    status = livestream_status(stream(status=before.wire(), source={"push": {"backup": True}}), observed, T0)
    assert status.live is False and status.backup_live is True
    assert kinds(status)["BackupLive"] == ("True", "MediaFlowing")
    assert status.started_at_backup == T0 and status.video_height == 720, "metrics of the ingest on air"
    assert [e.reason for e in livestream_events(before, status)] == ["BackupWentLive"]


def test_worker_pod_condition_reasons_follow_the_pod():
    from streamops.control.recording.reasons import RECORDER_POD
    from streamops.control.restream import reasons as restream_reasons
    from streamops.control.shared.pod_observation import PodObservation, worker_pod_condition

    pusher = restream_reasons.PUSHER_POD
    running = (restream_reasons.CONNECTING, "pusher Pod p is connecting to the target")
    absent = worker_pod_condition(PodObservation(name="p"), "pusher", pusher, running)
    assert (absent.reason, absent.message) == ("PusherStarting", "creating pusher Pod p")
    pending = PodObservation(name="p", exists=True, phase="Pending", detail="no node")
    got = worker_pod_condition(pending, "recorder", RECORDER_POD, running)
    assert (got.reason, got.message) == ("RecorderPending", "recorder Pod p is Pending: no node")
    up = worker_pod_condition(PodObservation(name="p", exists=True, phase="Running"), "pusher", pusher, running)
    assert (up.status, up.reason, up.message) == ("False", *running)
    failed = PodObservation(name="p", exists=True, phase="Failed", detail="OOMKilled")
    got = worker_pod_condition(failed, "pusher", pusher, running)
    assert (got.reason, got.message) == ("PusherFailed", "pusher Pod p is Failed: OOMKilled")


def test_an_unschedulable_pusher_says_so_while_the_stream_is_offline():
    # It would not push when the stream goes live: said now, not StreamNotLive (and warned once).
    waiting = restream_status(rst(), PusherObservation(pod=PodObservation(name="out-pusher")), T0)
    assert kinds(waiting)["Ready"] == ("False", "StreamNotLive")
    stuck = PodObservation(name="out-pusher", exists=True, phase="Pending", unschedulable="0/2 nodes are available")
    after = restream_status(rst(status=waiting.wire()), PusherObservation(pod=stuck), T0)
    assert kinds(after)["Ready"] == ("False", "PusherUnschedulable")
    assert kinds(after)["Live"] == ("False", "PusherUnschedulable")
    assert [(e.type, e.reason) for e in restream_events(waiting, after)] == [("Warning", "PusherUnschedulable")]

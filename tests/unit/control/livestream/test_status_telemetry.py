"""LiveStream status from its ingests' telemetry, and the deactivation a pull ingest reports:
pure functions, no cluster."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

from devtools.catalog import stored_livestream
from streamops.api import LiveStream, LiveStreamStatus
from streamops.contract.ingest import IngestStatus
from streamops.control.livestream.deactivation import Deactivation, WorkerReport, worker_report
from streamops.control.livestream.status import (
    EndpointObservation,
    IngestObservation,
    PodObservation,
    RecordingFacts,
    livestream_events,
    livestream_status,
)

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


stream = partial(stored_livestream, uid="s", generation=2)


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


CAMERA = {"pull": {"urls": ["rtsp://cam.lan/1"], "credentialsSecretRef": {"name": "cam-login"}}}
REFUSED = {
    "live": False,
    "pullFailure": {
        "urlIndex": 0,
        "url": "rtsp://cam.lan/1",
        "kind": "credentials-refused",
        "message": "the RTSP server refused the credentials of source.pull.credentialsSecretRef (401 Unauthorized)",
    },
}


def test_a_refused_rtsp_password_is_the_live_condition_and_one_warning():
    s = stream(source=CAMERA)
    running = livestream_status(
        s, IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest({})}, endpoints=SERVED), T0
    )
    refused = livestream_status(
        stream(source=CAMERA, status=running.wire()),
        IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest(REFUSED)}, endpoints=SERVED),
        T0,
    )
    assert kinds(refused)["Live"] == ("False", "PullCredentialsRefused")
    assert kinds(refused)["Ready"] == ("True", "IngestRunning"), "the ingest runs: it keeps trying every URL"
    message = refused.condition("Live").message
    assert "pull URL #0 (rtsp://cam.lan/1)" in message and "refused the credentials" in message
    events = livestream_events(running, refused)
    assert [(e.type, e.reason) for e in events] == [("Warning", "PullCredentialsRefused")]
    again = livestream_status(
        stream(source=CAMERA, status=refused.wire()),
        IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest(REFUSED)}, endpoints=SERVED),
        T0,
    )
    assert livestream_events(refused, again) == [], "once, not at every attempt"


def test_a_refused_origin_certificate_is_the_live_condition_naming_host_and_port():
    url = "rtmps://10.0.0.5:1936/live/secret-name"
    message = (
        "the certificate of the origin 10.0.0.5:1936 is not trusted (no trusted CA signed it): nothing was sent to it "
        "and nothing pulled; set source.pull.tls.caSecretRef to the CA that signed it (or "
        "source.pull.tls.insecureSkipVerify, which pulls from whoever answers at that address)"
    )  # media/ingest/rtsp_pull.untrusted_origin
    failed = {"live": False, "pullFailure": {"urlIndex": 0, "url": url, "kind": "failed", "message": message}}
    status = livestream_status(
        stream(source={"pull": {"urls": [url]}}),
        IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest(failed)}, endpoints=SERVED),
        T0,
    )
    assert kinds(status)["Live"] == ("False", "PullFailed")
    live = status.condition("Live").message
    assert f"pull URL #0 ({url}): the certificate of the origin 10.0.0.5:1936 is not trusted" in live


def test_the_live_condition_masks_a_url_with_userinfo_all_the_same():
    leaky = {**REFUSED, "pullFailure": {**REFUSED["pullFailure"], "kind": "failed", "message": "rtsp://u:pw@cam/1"}}
    status = livestream_status(
        stream(source=CAMERA), IngestObservation({"primary": RUNNING}, telemetry={"primary": ingest(leaky)}), T0
    )
    assert kinds(status)["Live"] == ("False", "PullFailed") and "pw" not in status.condition("Live").message


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


def ingest(data: dict) -> IngestStatus:
    """A worker's /status answer as the operator reads it (the typed contract)."""
    return IngestStatus.model_validate(data)


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


def test_status_says_which_projection_the_player_page_renders_now():
    """status.playback.projection is the primary's report (the page as it is), not the spec: absent
    until an ingest reports it, regular while the switch to the spec's is on its way."""
    vr = stream(playback={"projection": "vr360"})
    running = {"primary": RUNNING}
    assert livestream_status(vr, IngestObservation(running), T0).playback.projection is None
    for reported in ("regular", "vr360"):
        observed = IngestObservation(running, telemetry={"primary": ingest(INGEST_LIVE | {"projection": reported})})
        assert livestream_status(vr, observed, T0).playback.projection == reported
    older = IngestObservation(running, telemetry={"primary": ingest(INGEST_LIVE)})  # a worker before the field
    assert livestream_status(vr, older, T0).playback.projection is None

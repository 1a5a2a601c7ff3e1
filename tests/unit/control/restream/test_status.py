"""Restream status from its pusher's telemetry: pure functions, no cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from devtools.catalog import stored_restream
from streamops.contract.pusher import PusherStatus
from streamops.control.restream.status import PusherObservation, redact_credentials, restream_events, restream_status
from streamops.control.workers.pod_observation import PodObservation

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
RUNNING = PodObservation(name="p", exists=True, uid="u1", phase="Running", ready=True, ip="127.0.0.1", http_port=1)


def kinds(status):
    return {c.type: (c.status, c.reason) for c in status.conditions}


rst = partial(stored_restream, uid="x")


PUSHER = {
    "live": True,
    "state": "live",
    "startedAt": "2026-11-22T08:00:01Z",
    "bytesSent": 1000,
    "reconnects": 0,
    "lastError": None,
}


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
    # Not a transition: the failure's Warning is the streak's one aggregated Event (restream/test_backoff_event.py).
    assert "RestreamBackoff" not in [e.reason for e in restream_events(live, backoff)]
    off = restream_status(rst(active=False, status=backoff.wire()), PusherObservation(pod=PodObservation("p")), T0)
    assert kinds(off)["Ready"] == ("True", "Inactive") and off.live is False and off.bytes_sent == 1000


def test_redaction_of_credentials():
    text = "rtmps://user:pw@a.example/app/streamkey123?key=abc&x=1 srt://h:1?passphrase=p4ss&streamid=s1"
    out = redact_credentials(text)
    for secret in ("user:pw", "streamkey123", "abc", "p4ss", "s1"):
        assert secret not in out
    assert "x=1" in out


def test_restream_with_a_missing_key_secret_is_stalled():
    status = restream_status(rst(), PusherObservation(pod=PodObservation("p"), key_secret_missing="yt"), T0)
    assert kinds(status)["Stalled"] == ("True", "StreamKeySecretNotFound")
    assert kinds(status)["Ready"][0] == "False"


def test_an_unschedulable_pusher_says_so_while_the_stream_is_offline():
    # It would not push when the stream goes live: said now, not StreamNotLive (and warned once).
    waiting = restream_status(rst(), PusherObservation(pod=PodObservation(name="out-pusher")), T0)
    assert kinds(waiting)["Ready"] == ("False", "StreamNotLive")
    stuck = PodObservation(name="out-pusher", exists=True, phase="Pending", unschedulable="0/2 nodes are available")
    after = restream_status(rst(status=waiting.wire()), PusherObservation(pod=stuck), T0)
    assert kinds(after)["Ready"] == ("False", "PusherUnschedulable")
    assert kinds(after)["Live"] == ("False", "PusherUnschedulable")
    assert [(e.type, e.reason) for e in restream_events(waiting, after)] == [("Warning", "PusherUnschedulable")]


NOT_ACCEPTED = (
    "the source's video is hevc and the target takes h264 (spec.targetVideoCodecs): add hevc if the target takes "
    "HEVC over Enhanced RTMP, or set spec.source: transcoded to send the ladder's H.264"
)


def refusing(**telemetry) -> PusherObservation:
    refused = {**PUSHER, "live": False, "state": "codec-not-accepted", "bytesSent": 0, "lastError": NOT_ACCEPTED}
    return PusherObservation(pod=RUNNING, telemetry=pusher({**refused, **telemetry}), stream_live=True)


def test_a_source_codec_the_target_does_not_take_stalls_with_the_pushers_sentence_and_warns_once():
    waiting = restream_status(rst(), PusherObservation(pod=RUNNING, telemetry=pusher({**PUSHER, "live": False})), T0)
    refused = restream_status(rst(status=waiting.wire()), refusing(), T0)
    conditions = {c.type: (c.status, c.reason, c.message) for c in refused.conditions}
    assert conditions == {
        "Ready": ("False", "CodecNotAccepted", NOT_ACCEPTED),
        "Stalled": ("True", "CodecNotAccepted", NOT_ACCEPTED),  # only the user can fix it (GitOps: Degraded)
        "Live": ("False", "CodecNotAccepted", NOT_ACCEPTED),
    }
    assert refused.live is False and refused.bytes_sent == 0 and refused.last_error == NOT_ACCEPTED
    events = restream_events(waiting, refused)
    assert [(e.type, e.reason, e.message) for e in events] == [("Warning", "CodecNotAccepted", NOT_ACCEPTED)]
    # Polled again, the same: no new Event.
    again = restream_status(rst(status=refused.wire()), refusing(), T0)
    assert restream_events(refused, again) == []
    # The publisher's next session is H.264: pushed, Stalled gone.
    live = PusherObservation(pod=RUNNING, telemetry=pusher(PUSHER), stream_live=True)
    pushing = restream_status(rst(status=again.wire()), live, T0)
    assert kinds(pushing)["Ready"] == ("True", "Pushing") and "Stalled" not in kinds(pushing)
    assert "RestreamLive" in [e.reason for e in restream_events(again, pushing)]


def test_an_offline_stream_says_more_than_a_refusal_the_pusher_has_not_read_again_yet():
    # The pusher reads the feed every 3 s: a stream gone offline meanwhile is StreamNotLive, not stalled.
    status = restream_status(rst(), PusherObservation(pod=RUNNING, telemetry=refusing().telemetry), T0)
    assert kinds(status)["Ready"] == ("False", "StreamNotLive") and "Stalled" not in kinds(status)

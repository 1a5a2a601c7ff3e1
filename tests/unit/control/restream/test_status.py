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

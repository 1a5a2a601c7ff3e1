"""WebRTC in the LiveStream's status (status.py): the WHIP and WHEP URLs, the Warning a refused WHIP
publisher or an unplayable WHEP feed gives. The WebRtcPlayable condition: test_playability.py."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from devtools.catalog import stored_livestream
from streamops.contract.ingest import IngestStatus, WebRtcStatus
from streamops.control.livestream.status import (
    IngestObservation,
    PodObservation,
    livestream_events,
    livestream_status,
    publisher_refusal_events,
)
from streamops.control.shared.settings import OperatorSettings

T0 = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
SETTINGS = OperatorSettings()


stream = partial(stored_livestream, uid="uid-1", generation=1)


def observed(telemetry: IngestStatus | None = None, settings: OperatorSettings = SETTINGS) -> IngestObservation:
    running = {"metadata": {"name": "cam-ingest"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    return IngestObservation(
        {"primary": PodObservation.of("cam-ingest", running)},
        telemetry={"primary": telemetry} if telemetry else {},
        settings=settings,
    )


def test_status_shows_whip_and_whep_urls_where_the_http_face_is_reached():
    s = stream(source={"push": {"protocols": ["rtmp", "whip"]}})
    # WHIP's bearer is the key: an http:// WHIP URL only where the admin allows plain HTTP (issue 37).
    https_only = livestream_status(s, observed(), T0)
    assert https_only.ingest is not None and https_only.ingest.push_url_whip is None
    status = livestream_status(
        s,
        observed(
            settings=SETTINGS.model_copy(
                update={"ingest": SETTINGS.ingest.model_copy(update={"publish_over_http": True})}
            )
        ),
        T0,
    )
    assert status.ingest is not None and status.ingest.push_url_whip == "http://cam-ingest.media.svc:8080/whip"
    assert status.playback is not None and status.playback.whep_url == "http://cam-ingest.media.svc:8080/whep"
    assert "key" not in status.ingest.push_url_whip.lower()
    plain = livestream_status(stream(), observed(), T0)
    assert plain.ingest is not None and plain.ingest.push_url_whip is None, "no whip protocol, no WHIP URL"
    off = livestream_status(stream(playback={"webrtc": {"enabled": False}}), observed(), T0)
    assert off.playback is not None and off.playback.whep_url is None
    assert off.condition("WebRtcPlayable") is None


def test_refused_whip_offers_become_one_warning_per_look():
    def seen(refused: int, last: str | None = None) -> IngestStatus:
        return IngestStatus(live=False, webrtc=WebRtcStatus(running=True, whip_refused=refused, last_whip_refusal=last))

    assert publisher_refusal_events(None, seen(0)) == []
    [event] = publisher_refusal_events(seen(0), seen(3, "401 the bearer token is not this stream's key"))
    assert (event.type, event.reason) == ("Warning", "WhipPublisherRefused")
    assert event.message == "3 WHIP offers refused; the last answer: 401 the bearer token is not this stream's key"
    assert publisher_refusal_events(seen(3), seen(3, "401 …")) == [], "nothing new: no Event"
    [restarted] = publisher_refusal_events(seen(5), seen(1, "409 another publisher (rtmp) is live"))
    assert restarted.message.startswith("1 WHIP offer refused"), "a restarted worker counts from 0"


def test_webrtc_not_playable_is_a_warning_once():
    refused = IngestStatus(live=True, webrtc=WebRtcStatus(running=True, whep_problem="the source has B-frames"))
    s = stream()
    first = livestream_status(s, observed(refused), T0)
    events = livestream_events(None, first)
    assert [e.reason for e in events if e.type == "Warning"] == ["WebRtcNotPlayable"]
    again = livestream_status(s.model_copy(update={"status": first}), observed(refused), T0)
    assert [e for e in livestream_events(first, again) if e.reason == "WebRtcNotPlayable"] == []

"""WHIP publishers on the worker's side (media/ingest/webrtc/whip.py), with stand-ins for the worker
and the component (our own protocols: WhipHost, the component's client): who is refused before the
component is asked and why (each counted), the component's refusal passed on, an answered offer
becoming a session that reads the SDP file, its component session deleted when it ends, and DELETE.
The component and FFmpeg: tests/media/test_whip.py."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.webrtc.admission import NOT_WHIP, OFFER, UNAUTHORIZED, UNAVAILABLE
from streamops.media.ingest.webrtc.component import ControlReply
from streamops.media.ingest.webrtc.whip import WhipIngest

KEY = b"whip-key-0123456789abcdef"
BEARER = f"Bearer {KEY.decode()}"
WHIP = {"stream": "cam", "source": {"push": {"protocols": ["whip"]}}, "webrtc": {}, "ports": {"webrtcUdp": 8189}}
SDP = Path("/m/.private/whip.sdp")
log = logging.getLogger("test.whip")


@dataclass
class Client:
    """The component's control API as WhipIngest calls it."""

    offer_reply: ControlReply = field(default_factory=lambda: ControlReply(201, b"v=0", location="/whip/s1"))
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def post_whip(self, offer: bytes, content_type: str) -> ControlReply:
        self.calls.append(("post", offer))
        return self.offer_reply

    async def delete(self, resource: str) -> ControlReply:
        self.calls.append(("delete", resource))
        return ControlReply.text(200, "deleted")

    async def keyframe(self) -> None:
        self.calls.append(("keyframe", None))


@dataclass
class Host:
    config: IngestConfig = field(default_factory=lambda: IngestConfig.model_validate(WHIP))
    live: bool = False
    current: Any = None
    sessions: list[tuple[Any, ...]] = field(default_factory=list)
    taking: bool = False  # a handover's successor about to take over

    def read_key(self) -> bytes | None:
        return KEY

    def taking_over(self) -> bool:
        return self.taking

    def new_session(
        self, kind: str, url: str, options: dict[str, Any], secret_input: Any = None, audio_codec: str = "copy"
    ) -> Any:
        self.sessions.append((kind, url, audio_codec))

        async def run() -> None:
            return None

        async def stop(grace: float) -> None:
            return None

        return SimpleNamespace(
            kind=kind, started=True, run=run, process=SimpleNamespace(process=object(), running=False, stop=stop)
        )


def whip(host: Host | None = None, running: bool = True) -> tuple[WhipIngest, Client, list[tuple[str, str]]]:
    client, refused = Client(), []
    component = SimpleNamespace(running=running, client=client)
    ingest = WhipIngest(host or Host(), component, SDP, lambda reason, answer: refused.append((reason, answer)), log)  # type: ignore[arg-type]
    return ingest, client, refused


@pytest.mark.parametrize(
    ("host", "authorization", "status", "reason"),
    [
        (Host(config=IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}})), BEARER, 403, NOT_WHIP),
        (Host(), "Bearer wrong", 401, UNAUTHORIZED),
        (Host(), None, 401, UNAUTHORIZED),
    ],
)
def test_offers_refused_before_the_component_is_asked(host, authorization, status, reason):
    ingest, client, refused = whip(host)
    reply = asyncio.run(ingest.publish(authorization, b"v=0", "application/sdp"))
    assert reply.status == status and client.calls == [] and [r for r, _ in refused] == [reason]
    assert KEY.decode() not in refused[0][1]


def test_a_second_publisher_is_busy_while_one_is_live():
    host = Host(live=True, current=SimpleNamespace(kind="rtmp"))
    ingest, client, refused = whip(host)
    reply = asyncio.run(ingest.publish(BEARER, b"v=0", "application/sdp"))
    assert reply.status == 409 and client.calls == [] and refused[0][0] == "busy"


def test_without_the_component_or_with_its_refusal():
    ingest, client, refused = whip(running=False)
    reply = asyncio.run(ingest.publish(BEARER, b"v=0", "application/sdp"))
    assert (reply.status, reply.headers) == (503, {"Retry-After": "2"}) and refused == [
        (UNAVAILABLE, "503 the WebRTC component is not running")
    ]
    ingest, client, refused = whip()
    client.offer_reply = ControlReply.text(400, "not an SDP offer")
    reply = asyncio.run(ingest.publish(BEARER, b"junk", "application/sdp"))
    assert reply.status == 400 and refused == [(OFFER, "400 not an SDP offer")] and ingest.session is None


def test_an_answered_offer_becomes_a_session_whose_component_session_goes_with_it():
    async def scenario() -> None:
        host = Host()
        ingest, client, refused = whip(host)
        reply = await ingest.publish(BEARER, b"v=0", "application/sdp")
        assert reply.status == 201 and reply.location == "/whip/s1" and refused == []
        [(kind, url, audio)] = host.sessions
        assert (kind, audio) == ("whip", "aac") and str(SDP) in url
        await ingest.stop()  # the session's run ended: its component session is deleted, once
        assert client.calls.count(("delete", "/whip/s1")) == 1 and ingest.session is None and ingest.resource is None

    asyncio.run(scenario())


def test_delete_ends_our_session_and_passes_any_other_to_the_component():
    async def scenario() -> None:
        ingest, client, refused = whip()
        assert (await ingest.delete("Bearer wrong", "/whip/s1")).status == 401 and refused[0][0] == UNAUTHORIZED
        ingest.resource = "/whip/s1"
        assert (await ingest.delete(BEARER, "/whip/s1")).status == 200 and ingest.resource is None
        assert client.calls == [("delete", "/whip/s1")]
        assert (await ingest.delete(BEARER, "/whip/other")).status == 200 and client.calls[-1] == (
            "delete",
            "/whip/other",
        )
        ingest.component.running = False
        assert (await ingest.delete(BEARER, "/whip/other")).status == 404
        assert ingest.authorized(BEARER) and not ingest.authorized("Bearer wrong")

    asyncio.run(scenario())


def test_a_successor_taking_over_holds_an_offer_until_it_takes_publishers_again():
    """Issue 56: the encoder coming back from its predecessor's cut reaches the successor before it
    read `released`; its offer waits (as an RTMP publisher's admission does) and goes on once the
    successor takes publishers, rather than a 503 and a retry after Retry-After."""

    async def scenario() -> None:
        host = Host(taking=True)
        ingest, client, refused = whip(host)
        await ingest.close("the stream is being handed over to this ingest")  # hold_media(True)
        offer = asyncio.create_task(ingest.publish(BEARER, b"v=0", "application/sdp"))
        await asyncio.sleep(0.05)
        assert not offer.done() and client.calls == [], "held, the component not asked yet"
        ingest.reopen()  # hold_media(False): the predecessor released
        reply = await offer
        assert reply.status == 201 and refused == [] and client.calls[0][0] == "post"
        await ingest.stop()

    asyncio.run(scenario())


def test_a_held_offer_is_refused_at_the_end_of_the_hold_and_a_released_predecessor_at_once():
    async def scenario() -> None:
        host = Host(taking=True)
        ingest, client, refused = whip(host)
        ingest.hold_seconds = 0.05
        await ingest.close("the stream is being handed over to this ingest")
        reply = await ingest.publish(BEARER, b"v=0", "application/sdp")
        assert (reply.status, reply.headers) == (503, {"Retry-After": "1"}) and client.calls == []
        host.taking = False  # a predecessor that released: no successor's hold
        ingest.hold_seconds = 60.0
        reply = await asyncio.wait_for(ingest.publish(BEARER, b"v=0", "application/sdp"), 5)
        assert reply.status == 503 and [r for r, _ in refused] == [UNAVAILABLE, UNAVAILABLE]

    asyncio.run(scenario())

"""What the relay (`streamops-relay`, components/relay) is asked to do, pure: which targets it
carries, the `open` command of one run (the egress-pinned address, the names the target sees, the
key, the CA) and how a run's `ended` event reads as an `Outcome`. The command travels on the relay's
stdin only, never argv or an environment (docs/design/shared-pusher.md, "The relay")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from streamops.egress.media_destinations import PinnedMedia, destination, rtmp_app
from streamops.media.pusher.commands import check_stream_key
from streamops.media.pusher.plan import Outcome

RELAY_SCHEMES = ("rtmp", "rtmps")
H264, AAC = 0x1B, 0x0F
# What the relay demuxes and writes as FLV: H.264 and AAC (ADTS). Any other track (MP3, HEVC,
# data) keeps the target on FFmpeg, which maps the first video and audio track of any codec.
RELAY_STREAM_TYPES = frozenset({H264, AAC})


def relay_carries(uri: str, add_silence: bool, stream_types: list[int] | None) -> bool:
    """Whether a run to `uri` of a feed with these elementary streams goes through the relay:
    rtmp(s), no silent track to encode, a known program of H.264 video and at most AAC besides."""
    scheme = uri.split("://", 1)[0].lower()
    if scheme not in RELAY_SCHEMES or add_silence or stream_types is None:
        return False
    return H264 in stream_types and set(stream_types) <= RELAY_STREAM_TYPES


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class RelayOpen:
    """One run's `open` command. `stream` holds the key: never in a repr or a log."""

    run_id: str
    feed: str
    feed_auth: str
    scheme: str
    address: str
    host: str
    sni: str
    app: str
    stream: str
    ca: str
    insecure: bool

    def __repr__(self) -> str:
        return f"RelayOpen(run_id={self.run_id!r}, scheme={self.scheme!r}, address={self.address!r})"

    def line(self) -> bytes:
        body: dict[str, Any] = {
            "op": "open",
            "id": self.run_id,
            "feed": self.feed,
            "feedAuth": self.feed_auth,
            "scheme": self.scheme,
            "address": self.address,
            "host": self.host,
            "sni": self.sni,
            "app": self.app,
            "stream": self.stream,
            "ca": self.ca,
            "insecure": self.insecure,
        }
        return json.dumps(body).encode() + b"\n"


def relay_open(
    run_id: str,
    feed_url: str,
    feed_auth: str | None,
    uri: str,
    pinned: PinnedMedia,
    key: str | None,
    ca_pem: str | None,
    insecure: bool,
) -> RelayOpen:
    """The `open` of a run to `uri` (as the user wrote it) through `pinned` (its checked address):
    the application and stream name split as FFmpeg's rtmp protocol splits `<uri>/<key>` (so the
    target sees what an FFmpeg push sent: tcUrl `scheme://host:port/app`, the TLS name the host)."""
    dest = destination(uri)
    at = urlsplit(pinned.url)
    assert at.hostname is not None and at.port is not None, "pinned_to writes the address and port"
    parts = urlsplit(uri)
    path = parts.path.rstrip("/")
    if key is not None:
        check_stream_key(key, dest.scheme)
        path = f"{path}/{key}"
    if parts.query:
        path = f"{path}?{parts.query}"
    app = rtmp_app(path)
    stream = path[1 + len(app) :].lstrip("/")
    return RelayOpen(
        run_id=run_id,
        feed=feed_url,
        feed_auth=feed_auth or "",
        scheme=dest.scheme,
        address=_authority(at.hostname, at.port),
        host=_authority(dest.host, dest.port),
        sni=pinned.options.get("verifyhost", ""),
        app=app,
        stream=stream,
        ca=ca_pem or "",
        insecure=insecure,
    )


def ended_outcome(reason: str) -> Outcome:
    """A run's `ended` reason as the supervisor's outcome (as classify_exit reads FFmpeg's exit)."""
    return {
        "feed-ended": Outcome.SOURCE_ENDED,
        "feed-failed": Outcome.SOURCE_UNAVAILABLE,
        "closed": Outcome.STOPPED,
    }.get(reason, Outcome.TARGET_FAILED)

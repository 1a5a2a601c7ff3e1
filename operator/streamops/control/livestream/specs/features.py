"""Which of its features a LiveStream's ingests run, from its spec and the operator's defaults:
roles, WebRTC (WHIP, WHEP), RTMPS, the edge, ICE servers."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.api.livestream import IceServersSecretRef
from streamops.contract.ingest import Role
from streamops.control.shared.settings import EdgeSettings, PlaybackSettings


def ingest_roles(stream: LiveStream) -> list[Role]:
    push = stream.spec.source.push
    return ["primary", "backup"] if push and push.backup else ["primary"]


def edge_on(stream: LiveStream, edge: EdgeSettings) -> bool:
    """spec.playback.edge.enabled, else the operator's default; only for a stream with a route."""
    enabled = stream.spec.playback.edge.enabled
    return edge.enabled if enabled is None else enabled


def whip_on(stream: LiveStream, role: Role) -> bool:
    """WHIP is the primary's only: the hosted platform has no backup WHIP link either."""
    push = stream.spec.source.push
    return role == "primary" and push is not None and "whip" in push.protocols


def whep_on(stream: LiveStream, playback: PlaybackSettings) -> bool:
    """WebRTC playback: the stream's choice, else the operator's default."""
    own = stream.spec.playback.webrtc.enabled
    return playback.webrtc if own is None else own


def webrtc_on(stream: LiveStream, role: Role, playback: PlaybackSettings) -> bool:
    """The primary ingest runs the WebRTC component when it takes WHIP or serves WHEP."""
    return role == "primary" and (whip_on(stream, role) or whep_on(stream, playback))


def ice_servers_ref(stream: LiveStream) -> IceServersSecretRef | None:
    """The Secret key with the STUN/TURN servers for WebRTC clients, if the stream names one."""
    return stream.spec.playback.webrtc.ice_servers_secret_ref


def reader_ports(stream: LiveStream, role: Role) -> tuple[str, ...]:
    """The readers' listeners the role's ingest serves (port names): srt-read, and rtsp or rtsps. The
    primary's only, like WHEP: viewers are served where the stream is on air."""
    if role != "primary":
        return ()
    playback = stream.spec.playback
    srt = ("srt-read",) if playback.srt is not None and playback.srt.enabled else ()
    rtsp = playback.rtsp
    if rtsp is None or not rtsp.enabled:
        return srt
    return (*srt, "rtsps" if rtsp.tls is not None else "rtsp")


def rtmps_on(stream: LiveStream) -> bool:
    push = stream.spec.source.push
    return push is not None and "rtmps" in push.protocols

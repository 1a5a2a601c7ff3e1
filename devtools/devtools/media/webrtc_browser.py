"""Chromium for WebRTC on loopback only: a network namespace whose one interface is `lo`, the flags
that make Chromium's camera a file and let it gather loopback candidates, and the SDP reading that
proves where the candidates are.

    with netns.loopback_namespace("sowebrtc123") as ns, ClockCamera(tmp / "cam.y4m") as camera:
        with WebRtcComponent(tmp, netns=ns) as component, Browser(netns=ns, **webrtc_browser_options(camera.path)):
            ...

Why a namespace: Chromium gathers host candidates on every interface it finds and, by default,
none on loopback; no flag limits it to loopback (the IP handling policies choose between "every
interface" and "the default route's", and drop loopback either way). In a namespace that has only
`lo`, the only interface is loopback, and `--allow-loopback-in-peer-connection` lets Chromium use it.
The component (pion) is told the same by `--ice-allow-ip 127.0.0.0/8` (devtools.media.webrtc).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Chromium's WebRTC switches. Every one has a reason:
WEBRTC_FLAGS = (
    "--use-fake-device-for-media-stream",  # a fake camera and microphone (a beep), no real device
    "--use-fake-ui-for-media-stream",  # getUserMedia granted without a prompt
    "--allow-loopback-in-peer-connection",  # gather 127.0.0.1 (dropped by default)
    # two tabs of one headless browser (publisher and viewer): none is throttled as a background
    # one, or requestVideoFrameCallback and the timers would run at 1 Hz in it
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)
# Host candidates as IP addresses, not as random .local names (the page has a camera grant only on
# the publisher; a viewer's candidates would be mDNS names the component cannot and must not resolve).
WEBRTC_DISABLED_FEATURES = ("WebRtcHideLocalIpsWithMdns",)


def webrtc_browser_options(camera: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Keyword arguments for devtools.media.browser.Browser: WebRTC on, the camera a Y4M file
    (devtools.media.webrtc_camera; without one Chromium's fake camera shows its own pattern)."""
    flags = list(WEBRTC_FLAGS)
    if camera is not None:
        flags.append(f"--use-file-for-fake-video-capture={Path(camera)}")
    return {"extra_flags": flags, "disabled_features": list(WEBRTC_DISABLED_FEATURES)}


@dataclass(frozen=True)
class Candidate:
    """One a=candidate line of an SDP."""

    foundation: str
    component: int
    transport: str  # udp, tcp
    address: str
    port: int
    type: str  # host, srflx, prflx, relay
    tcptype: str | None

    @property
    def on_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.address) in ipaddress.ip_network("127.0.0.0/8")
        except ValueError:  # a name (mDNS .local): not an address on loopback
            return False

    def __str__(self) -> str:
        tcp = f" tcptype {self.tcptype}" if self.tcptype else ""
        return f"{self.transport} {self.address}:{self.port} {self.type}{tcp}"


def candidates(sdp: str) -> list[Candidate]:
    """Every candidate of an SDP (`a=candidate:foundation component transport priority address port
    typ type [raddr … rport …] [tcptype …] …`)."""
    found = []
    for line in sdp.splitlines():
        if not line.startswith("a=candidate:"):
            continue
        fields = line.removeprefix("a=candidate:").split()
        extras = dict(zip(fields[6::2], fields[7::2], strict=False))
        found.append(
            Candidate(
                foundation=fields[0],
                component=int(fields[1]),
                transport=fields[2].lower(),
                address=fields[4],
                port=int(fields[5]),
                type=fields[7],
                tcptype=extras.get("tcptype"),
            )
        )
    return found


def media_codecs(sdp: str) -> dict[str, list[str]]:
    """For each m-line kind (video, audio), the codec names of its payload types in order
    (`a=rtpmap:PT NAME/RATE`), e.g. {"video": ["H264", "H264"], "audio": ["opus"]}."""
    codecs: dict[str, list[str]] = {}
    kind: str | None = None
    order: list[str] = []
    names: dict[str, str] = {}

    def close() -> None:
        if kind is not None:
            codecs.setdefault(kind, []).extend(names.get(pt, "?") for pt in order)

    for line in sdp.splitlines():
        if line.startswith("m="):
            close()
            fields = line[2:].split()
            kind, order, names = fields[0], fields[3:], {}
        elif line.startswith("a=rtpmap:") and kind is not None:
            pt, rest = line.removeprefix("a=rtpmap:").split(" ", 1)
            names[pt] = rest.split("/")[0]
    close()
    return codecs

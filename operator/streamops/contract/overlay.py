"""The overlay renderer's contract (docs/design/overlays.md): `OverlayRendererConfig` (env
STREAMOPS_OVERLAY_CONFIG), the PNG files it writes for the ingest's FFmpeg, and `OverlayRendererStatus`
(`status.json` beside them), which the ingest reads and reports as `IngestStatus.overlays`."""

from __future__ import annotations

import hashlib

from pydantic import Field

from streamops.api.overlay_state import OverlayState as OverlayState  # defined with the API that reports it
from streamops.contract.egress_policy import EgressPolicy
from streamops.contract.stamped_token import stamped_token, stamped_token_valid
from streamops.contract.worker import UtcTime, WorkerConfig, WorkerStatus

CONFIG_ENV = "STREAMOPS_OVERLAY_CONFIG"
OVERLAY_DIR = "/var/lib/streamops-overlays"  # an emptyDir shared by the ingest and its renderer sidecar
STATUS_FILE = "status.json"
# Which overlays are on (OverlaySwitch): POSTed by the operator to the ingest, which writes it beside
# the PNGs for the renderer. Not in either's configuration, so a switch restarts no Pod.
SWITCH_PATH = "/overlays"
SWITCH_FILE = "switch.json"
# The ingest's HTTP port is exposed with its Service (NodePort, LoadBalancer) and through a playback
# route at "/": a switch to a stream with a key is signed with it, as the backup's uplink is.
SWITCH_AUTH_HEADER = "X-Streamops-Overlay-Auth"
# The renderer's viewport assumes a 16:9 output: the box of an overlay is sized in pixels of a frame
# this tall (the tallest rendition), and scaled to the real source's box by FFmpeg.
ASPECT_RATIO = 16 / 9
# How often a page is captured (a PNG written only when its bytes changed), and how often FFmpeg
# reads the PNG: the delay between a change in the page and the output is at most about the sum.
CAPTURE_INTERVAL_SECONDS = 0.15
COMPOSITE_FRAME_RATE = 10


def png_name(overlay: str) -> str:
    """The PNG of an overlay in the shared directory (the name is a DNS label: a safe file name)."""
    return f"{overlay}.png"


def box_pixels(width_percent: float, height_percent: float, output_height: int) -> tuple[int, int]:
    """An overlay box's size in pixels on a 16:9 output `output_height` tall (even, at least 2)."""
    output_width = round(output_height * ASPECT_RATIO)
    width = max(2, round(output_width * width_percent / 100 / 2) * 2)
    height = max(2, round(output_height * height_percent / 100 / 2) * 2)
    return width, height


# The binary itself: the /usr/bin/chromium wrapper would add /etc/chromium.d's flags and API keys.
CHROMIUM_BINARY = "/usr/lib/chromium/chromium"


class RenderedOverlay(WorkerConfig):
    """One page the renderer keeps open and captures."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://[^\s@/]+(/\S*)?$")
    width: int = Field(ge=2, le=3840, description="Viewport width in pixels (the box on the tallest rendition).")
    height: int = Field(ge=2, le=2160, description="Viewport height in pixels.")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Host names the page may load from besides the url's own host.",
    )


class OverlaySwitch(WorkerConfig):
    """The overlays that are on, by name (the others draw nothing: a transparent PNG, no page). An
    ingest and its renderer that have none yet (a Pod that just started) have every overlay off."""

    enabled: list[str] = Field(default_factory=list, max_length=8)


SWITCH_PURPOSE = "streamops-overlay-switch"


def switch_token(key: bytes, stream: str, body: bytes, now: float) -> str:
    """SWITCH_AUTH_HEADER's value for a POST of `body` (contract/stamped_token.py)."""
    return stamped_token(key, SWITCH_PURPOSE, (stream, hashlib.sha256(body).hexdigest()), now)


def switch_token_valid(key: bytes, stream: str, body: bytes, token: str, now: float) -> bool:
    return stamped_token_valid(key, SWITCH_PURPOSE, (stream, hashlib.sha256(body).hexdigest()), token, now)


class OverlayRendererConfig(WorkerConfig):
    """What the renderer sidecar renders and where it writes."""

    stream: str = Field(description="The LiveStream's name (logs).")
    overlays: list[RenderedOverlay] = Field(default_factory=list, max_length=8)
    directory: str = OVERLAY_DIR
    capture_interval_seconds: float = Field(default=CAPTURE_INTERVAL_SECONDS, ge=0.05, le=5)
    retry_max_seconds: float = Field(
        default=30, ge=1, le=600, description="The longest wait before a failing page is loaded again."
    )
    chromium: str = Field(default=CHROMIUM_BINARY, description="The Chromium binary (no wrapper).")
    # None (left out of the JSON, so ingests configured before it keep their Pod hash): the default
    # policy, which refuses every loopback, link-local, private and reserved address.
    egress: EgressPolicy | None = Field(
        default=None, description="Where pages may connect (docs/design/egress.md): the admin's allow-list."
    )


class OverlayReport(WorkerStatus):
    """One overlay as the renderer last saw it."""

    name: str
    state: OverlayState
    message: str = Field(default="", description="Why it fails (never the URL's query or credentials).")
    updated_at: UtcTime | None = Field(default=None, description="When its PNG last changed.")
    captures: int = Field(default=0, description="PNGs written since the renderer started.")


class OverlayRendererStatus(WorkerStatus):
    """`<directory>/status.json`, rewritten (atomically) whenever a state changes, and every few seconds."""

    written_at: UtcTime | None = None
    overlays: list[OverlayReport] = Field(default_factory=list)
    sandboxed: bool | None = Field(
        default=None, description="Whether Chromium runs in its own sandbox (None: not started yet)."
    )

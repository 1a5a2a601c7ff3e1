"""Everything a WebRTC browser test or benchmark stands up, in one `with`: a network namespace with
only `lo`, the clock camera, streamops-webrtc, the WHIP/WHEP page server and a headless Chromium
whose camera is the clock, all of it in that namespace (devtools.media.webrtc_browser says why).

    with webrtc_stand(tmp_path) as stand:
        publisher = stand.open_page()
        publisher.evaluate(publish_expression(stand.pages.whip_url))

Teardown, also on failure: Chromium, the page server, the component and the camera stopped (by
PID for the processes), then the namespace deleted.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import netns as netns_module
from devtools.media.browser import Browser, Page
from devtools.media.webrtc import WebRtcComponent
from devtools.media.webrtc_browser import webrtc_browser_options
from devtools.media.webrtc_camera import ClockCamera
from devtools.media.webrtc_pages import WebRtcPages


@dataclass
class WebRtcStand:
    netns: str
    camera: ClockCamera
    component: WebRtcComponent
    pages: WebRtcPages
    browser: Browser

    def open_page(self) -> Page:
        """A new tab on the harness page, brought to the front: headless Chromium shows one tab of a
        browser at a time, and a hidden one presents no video frames (no requestVideoFrameCallback)."""
        page = self.browser.open(self.pages.url)
        page.call("Page.bringToFront")
        return page

    def status(self) -> dict[str, Any]:
        return self.component.status()


_stands = itertools.count(1)


def namespace_name(prefix: str = "sowebrtc") -> str:
    """Unique on this machine while we run: our PID and a counter."""
    return f"{prefix}{os.getpid()}-{next(_stands)}"


@contextlib.contextmanager
def webrtc_stand(
    workdir: str | os.PathLike[str],
    *,
    camera_size: str = "640x360",
    camera_rate: int = 30,
    component_args: Sequence[str] = (),
    rtp_in: bool = True,
) -> Iterator[WebRtcStand]:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    name = namespace_name()
    with (
        netns_module.loopback_namespace(name) as ns,
        ClockCamera(workdir / "camera.y4m", size=camera_size, rate=camera_rate) as camera,
        WebRtcComponent(workdir, netns=ns, rtp_in=rtp_in, extra_args=list(component_args)) as component,
        WebRtcPages(component.control_url, netns=ns) as pages,
        Browser(netns=ns, log_path=workdir / "chromium.log", **webrtc_browser_options(camera.path)) as browser,
    ):
        yield WebRtcStand(ns, camera, component, pages, browser)
    if netns_module.exists(name):
        raise RuntimeError(f"network namespace {name} survived its teardown")

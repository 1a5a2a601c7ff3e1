"""The real ingest worker with WebRTC (`streamops worker ingest` with `webrtc`: it runs
streamops-webrtc, the WHIP session's FFmpeg and the WHEP feeder as its children) in a network
namespace, for benchmarks: started there, read there, its process tree named.

    with ingest_webrtc_stand(tmp / "stand", source={"push": {"protocols": ["rtmp", "whip"]}}) as stand:
        publisher = stand.open("publish")            # the product's publish page
        viewer = stand.open("player?format=webrtc", first_clock=True)

`ingest_webrtc_stand` is the whole stand in one `with`: a namespace whose only interface is `lo`,
the clock camera (devtools.media.webrtc_camera), the worker and a WebRTC Chromium, all in that
namespace (devtools.media.webrtc_browser says why); on exit Chromium, the worker (with every child)
and the camera are stopped by PID and the namespace deleted. `start_ingest` alone starts the worker
in a namespace made elsewhere (bench/webrtc_fanout.py's, shared with Janus).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import netns as netns_module
from devtools.media.browser import Browser, Page
from devtools.media.clock_source import CLOCK_STRIP_JS, ClockPublisher, strip_layout
from devtools.media.webrtc_browser import candidates, webrtc_browser_options
from devtools.media.webrtc_camera import ClockCamera
from devtools.media.webrtc_stand import namespace_name
from devtools.media.workers import Ingest
from devtools.processes import proc_tree
from devtools.versions import webrtc_bin

PREFIX = "/streams/default/cam"  # the pages under a path prefix, as an Ingress routes them

# Run before the player page's own scripts (Page.addScriptToEvaluateOnNewDocument): the clock strip
# reader, and the clock of the first picture the page's <video id="video"> presents, read in that
# picture's requestVideoFrameCallback (window.streamopsFirstClock: {shownAt on the Date.now() clock,
# burnedMs or null when its strip did not read}). A new source's load drops earlier callbacks: asked
# again at each loadstart.
FIRST_CLOCK_JS = (
    CLOCK_STRIP_JS
    + """
(() => {
  const layout = LAYOUT;
  window.streamopsFirstClock = null;
  const hook = () => {
    const video = document.getElementById('video');
    if (!video) return;
    const onFrame = (_now, metadata) => {
      if (window.streamopsFirstClock) return;
      window.streamopsFirstClock = {
        shownAt: performance.timeOrigin + metadata.expectedDisplayTime,
        burnedMs: window.streamopsClock.read(video, layout),
      };
    };
    video.addEventListener('loadstart', () => {
      if (!window.streamopsFirstClock) video.requestVideoFrameCallback(onFrame);
    });
    video.requestVideoFrameCallback(onFrame);
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', hook, { once: true });
  else hook();
})();
""".replace("LAYOUT", json.dumps(strip_layout()))
)


def start_ingest(ns: str, workdir: Path, *, webrtc: dict[str, Any] | None = None, **config: Any) -> Ingest:
    """`streamops worker ingest` with `webrtc` (`{}`: its defaults) in namespace `ns`: its ports are
    picked there and it (with its children) runs there; healthy when this returns. Stop it with
    .stop() (by PID, every FFmpeg and the component with it)."""
    webrtc_bin()  # built (or found) here, outside the namespace: a first build may fetch modules
    workdir.mkdir(parents=True, exist_ok=True)
    with netns_module.entered(ns):
        ingest = Ingest(workdir, webrtc={} if webrtc is None else webrtc, **config)
        try:
            ingest.start()
        except BaseException:
            ingest.stop()
            raise
    return ingest


def ingest_status(ingest: Ingest, ns: str) -> dict[str, Any]:
    with netns_module.entered(ns):
        return ingest.status()


def _argv(pid: int) -> list[str]:
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]
    except OSError:
        return []


def process_roles(ingest: Ingest) -> dict[int, str]:
    """The worker's process tree by role: `worker` (the Python process), `streamops-webrtc`,
    `ffmpeg: WHEP feeder` (RTP into the component), `ffmpeg: WHIP session` (reads the component's
    SDP), `ffmpeg: session` (the source's HLS, feed, ...), `ffprobe`, `ffmpeg: other`, `other`."""
    assert ingest.process is not None
    roles: dict[int, str] = {}
    for pid in proc_tree(ingest.process.pid):
        argv = _argv(pid)
        name = os.path.basename(argv[0]) if argv else ""
        if pid == ingest.process.pid:
            roles[pid] = "worker"
        elif name == "streamops-webrtc":
            roles[pid] = "streamops-webrtc"
        elif name == "ffprobe":
            roles[pid] = "ffprobe"
        elif name == "ffmpeg":
            text = " ".join(argv)
            if "-f rtp" in text and "/feed" in text:
                roles[pid] = "ffmpeg: WHEP feeder"
            elif ".sdp" in text:
                roles[pid] = "ffmpeg: WHIP session"
            elif "rtmp://" in text or "srt://" in text or "-listen" in text:
                roles[pid] = "ffmpeg: session"
            else:
                roles[pid] = "ffmpeg: other"
        else:
            roles[pid] = "other"
    return roles


def component_pid(ingest: Ingest) -> int | None:
    return next((pid for pid, role in process_roles(ingest).items() if role == "streamops-webrtc"), None)


def component_control_socket(ingest: Ingest) -> Path | None:
    """The control API's unix socket of the worker's streamops-webrtc (its --control unix:PATH, in the
    worker's private directory): its /status has what the worker's own status rounds off
    (viewerSessions, viewerPacketsDropped, packet counters)."""
    pid = component_pid(ingest)
    if pid is None:
        return None
    argv = _argv(pid)
    if "--control" not in argv[:-1]:
        return None
    control = argv[argv.index("--control") + 1]
    return Path(control.removeprefix("unix:")) if control.startswith("unix:") else None


def unix_http_json(socket_path: Path, path: str, timeout: float = 3.0) -> dict[str, Any]:
    """GET path over a unix socket, as JSON (raises on any failure)."""

    class Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(str(socket_path))

    connection = Connection("streamops-webrtc", timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        if response.status != 200:
            raise OSError(f"GET {path}: {response.status}")
        return dict(json.loads(response.read()))
    finally:
        connection.close()


def component_status(ingest: Ingest, ns: str) -> dict[str, Any]:
    control = component_control_socket(ingest)
    if control is None:
        return {}
    with netns_module.entered(ns):
        return unix_http_json(control, "/status")


def loopback_candidates(sdp: str | None, what: str) -> list[str]:
    """Every candidate of an offer or answer, each checked to be a host candidate on 127.0.0.0/8
    (AssertionError otherwise, or without a UDP one)."""
    if not sdp:
        raise AssertionError(f"{what}: no SDP")
    found = candidates(sdp)
    if not any(c.transport == "udp" for c in found):
        raise AssertionError(f"{what}: no UDP candidate in\n{sdp}")
    off = [str(c) for c in found if not c.on_loopback or c.type != "host"]
    if off:
        raise AssertionError(f"{what}: candidates off loopback or not host: {off}")
    return [str(c) for c in found]


@dataclass
class IngestWebRtcStand:
    netns: str
    ingest: Ingest
    camera: ClockCamera
    browser: Browser
    workdir: Path
    prefix: str = PREFIX

    @property
    def base(self) -> str:
        return self.ingest.http + self.prefix

    def open(self, path: str, *, first_clock: bool = False) -> Page:
        """A tab on {base}/{path}, brought to the front (a hidden tab presents no video frames);
        first_clock: FIRST_CLOCK_JS runs before the page's scripts."""
        page = self.browser.open("about:blank")
        try:
            if first_clock:
                page.call("Page.addScriptToEvaluateOnNewDocument", {"source": FIRST_CLOCK_JS})
            page.call("Page.bringToFront")
            page.navigate(f"{self.base}/{path}")
        except BaseException:
            page.close()
            raise
        return page

    def status(self) -> dict[str, Any]:
        return ingest_status(self.ingest, self.netns)

    def component_status(self) -> dict[str, Any]:
        return component_status(self.ingest, self.netns)

    def rtmp_publisher(self, **options: Any) -> ClockPublisher:
        """The clock publisher (640x360 30 fps x264 zerolatency, 1 s GOP, no B-frames) pushing RTMP
        to the worker, in the namespace."""
        log = self.workdir / f"publisher-{os.getpid()}.log"
        return ClockPublisher(self.ingest.rtmp_url(), netns=self.netns, log_path=log, **options)


def _close_pages(browser: Browser) -> None:
    for page in list(browser.pages):
        page.close()


@contextlib.contextmanager
def ingest_webrtc_stand(
    workdir: str | os.PathLike[str],
    *,
    webrtc: dict[str, Any] | None = None,
    prefix: str = PREFIX,
    camera_size: str = "640x360",
    camera_rate: int = 30,
    **config: Any,
) -> Iterator[IngestWebRtcStand]:
    """The stand (module docstring); `webrtc` and `config` go to the worker's config (pathPrefix
    is `prefix`)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    name = namespace_name("soingestb")
    with contextlib.ExitStack() as stack:
        ns = stack.enter_context(netns_module.loopback_namespace(name))
        camera = stack.enter_context(ClockCamera(workdir / "camera.y4m", size=camera_size, rate=camera_rate))
        ingest = start_ingest(ns, workdir / "ingest", webrtc=webrtc, pathPrefix=prefix, **config)
        stack.callback(ingest.stop)
        options = webrtc_browser_options(camera.path)
        browser = stack.enter_context(Browser(netns=ns, log_path=workdir / "chromium.log", **options))
        stack.callback(_close_pages, browser)  # pagehide (the pages' DELETEs) before the worker stops
        yield IngestWebRtcStand(ns, ingest, camera, browser, workdir, prefix)
    if netns_module.exists(name):
        raise RuntimeError(f"network namespace {name} survived its teardown")

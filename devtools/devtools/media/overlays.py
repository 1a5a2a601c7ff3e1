"""HTML overlays in tests and the bench: the renderer worker as a local process, a page server on a
loopback address that records what it was asked for, switching overlays on (POST /overlays to the
ingest, or switch.json for a renderer alone), waiting for a PNG to settle, the newest segment of a
rendition, the ingest's compositing FFmpeg, and reading an overlay's box back from decoded frames (FFmpeg to raw RGB)
to tell which picture of the page it shows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from streamops.contract.overlay import SWITCH_AUTH_HEADER, SWITCH_PATH, OverlaySwitch, switch_token
from streamops.media.overlay.switch import write_switch

from devtools.http_client import http_get, http_request
from devtools.media.workers import WORKER_AUTH, Ingest
from devtools.processes import child_env, command_line, proc_tree, stop_tree
from devtools.waits import wait_for


class PageServer:
    """HTTP on `address`:port (port 0: any) serving `pages` (path → (status, content type, body))
    and `redirects` (path → Location), changed by the test while it runs; `requests` lists every
    path asked for, in order."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        self.pages: dict[str, tuple[int, str, bytes]] = {}
        self.redirects: dict[str, str] = {}  # path → Location
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                path = self.path.split("?")[0]
                status, content_type, body = server.pages.get(path, (404, "text/plain", b"no"))
                self.send_response(status)
                if path in server.redirects:
                    self.send_header("Location", server.redirects[path])
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((address, port), Handler)
        self.httpd.daemon_threads = True
        self.address, self.port = address, self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"pages-{address}", daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.address}:{self.port}{path}"

    def serve(self, path: str, body: str | bytes, status: int = 200, content_type: str = "text/html") -> None:
        self.pages[path] = (status, content_type, body.encode() if isinstance(body, str) else body)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.redirects[path] = location
        self.serve(path, "", status)

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def scoreboard_page(background: str = "#c01010", font_px: int = 48) -> str:
    """A live scoreboard: an opaque box filling the viewport whose text is /score.json's `text`,
    polled every 100 ms (as a real scoreboard widget polls its API)."""
    return f"""<!doctype html><html><head><style>
html,body{{margin:0;height:100%;overflow:hidden}}
#s{{box-sizing:border-box;height:100%;background:{background};color:#fff;font:bold {font_px}px sans-serif;
display:flex;align-items:center;justify-content:center}}
</style></head><body><div id="s">…</div><script>
async function poll(){{try{{const r=await fetch('/score.json',{{cache:'no-store'}});
document.getElementById('s').textContent=(await r.json()).text}}catch(e){{}}setTimeout(poll,100)}}poll();
</script></body></html>"""


def score_json(text: str) -> str:
    return json.dumps({"text": text})


def post_switch(
    ingest: Ingest, enabled: Sequence[str], signed: bool = True, credential: bool = True
) -> tuple[int, bytes]:
    """POST /overlays to the ingest, as the operator does (signed with the stream key, presenting the
    stream's worker credential): (status, body)."""
    payload = json.dumps({"enabled": list(enabled)}).encode()
    headers = {"Content-Type": "application/json", **(WORKER_AUTH if credential else {})}
    if signed:
        headers[SWITCH_AUTH_HEADER] = switch_token(Ingest.KEY.encode(), ingest.config["stream"], payload, time.time())
    status, _, body = http_request("POST", f"{ingest.internal}{SWITCH_PATH}", payload, headers)
    return status, body


def compositing_ffmpeg(ingest: Ingest, png: str) -> list[int]:
    """PIDs of the ingest's FFmpeg processes reading the overlay PNG `png` (its session's)."""
    assert ingest.process is not None
    return [p for p in proc_tree(ingest.process.pid)[1:] if "ffmpeg" in (c := command_line(p)) and png in c]


# The egress guard refuses loopback unless allow-listed (docs/design/egress.md): the pages of the
# tests and the bench are on 127.0.0.1, so that one address is, as an admin would allow-list a range.
LOOPBACK_PAGES = {"allowCidrs": ["127.0.0.1/32"]}


class OverlayRendererProcess:
    """`streamops worker overlay --config FILE -v` as a local process, stopped by PID. `switched_on`:
    the overlays on from the start (switch.json written first; None: none, the renderer's default).
    A config without `egress` gets LOOPBACK_PAGES."""

    def __init__(self, workdir: Path, config: dict[str, Any], switched_on: Sequence[str] | None = None) -> None:
        self.config = {"egress": LOOPBACK_PAGES, **config}
        self.config_path = workdir / "overlay.json"
        self.log_path = workdir / "overlay.log"
        self.directory = Path(config["directory"])
        self.switched_on = switched_on
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OverlayRendererProcess:
        self.config_path.write_text(json.dumps(self.config))
        if self.switched_on is not None:
            # switch.json as the ingest writes it on a POST (a renderer without an ingest).
            write_switch(self.directory, OverlaySwitch(enabled=list(self.switched_on)))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamops", "worker", "overlay", "--config", str(self.config_path), "-v"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=child_env(),
            )
        return self

    def status(self) -> dict[str, Any]:
        """status.json as written last ({} before the first)."""
        try:
            return dict(json.loads((self.directory / "status.json").read_text()))
        except (OSError, ValueError):
            return {}

    def report(self, name: str) -> dict[str, Any]:
        return next((o for o in self.status().get("overlays", []) if o["name"] == name), {})

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int | None:
        return stop_tree(self.process, timeout=10) if self.process is not None else None

    def __enter__(self) -> OverlayRendererProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def settled(png: Path, quiet: float = 0.6, timeout: float = 15) -> None:
    """Wait until the PNG has not changed for `quiet` seconds (its page finished drawing)."""

    def still() -> bool:
        before = png.read_bytes()
        time.sleep(quiet)
        return png.read_bytes() == before

    wait_for(still, timeout=timeout)


def newest_segment(ingest: Ingest, rendition: str, after: str | None, into: Path) -> tuple[str, Path] | None:
    """The newest CMAF segment of a rendition (with its init segment, written to `into`) when it is
    not `after`."""
    code, playlist = http_get(f"{ingest.http}/hls/cmaf/{rendition}/index.m3u8")
    segments = re.findall(r"^(seg-\d+\.m4s)$", playlist.decode(), re.M) if code == 200 else []
    if not segments or segments[-1] == after:
        return None
    base = f"{ingest.http}/hls/cmaf/{rendition}"
    into.write_bytes(http_get(f"{base}/init.mp4")[1] + http_get(f"{base}/{segments[-1]}")[1])
    return segments[-1], into


def rgba_pixels(png: Path, width: int, height: int) -> bytes:
    """A PNG as raw RGBA bytes at width x height (system FFmpeg, scaled with bilinear)."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(png), "-vf", f"scale={width}:{height}:flags=bilinear",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgba", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


def rgb_of(rgba: bytes) -> bytes:
    return b"".join(rgba[i : i + 3] for i in range(0, len(rgba), 4))


def box_frames(media: Path, box: tuple[int, int, int, int]) -> list[bytes]:
    """Every decoded frame of a media file cropped to box (x, y, width, height), as raw RGB."""
    x, y, width, height = box
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(media), "-an", "-vf", f"crop={width}:{height}:{x}:{y}",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    size = width * height * 3
    return [out[i : i + size] for i in range(0, len(out) - size + 1, size)]


def differing_pixels(a: bytes, b: bytes, threshold: int = 96) -> list[int]:
    """Indexes of the RGB pixels where two pictures of one size differ clearly (sum of channels)."""
    return [i for i in range(0, len(a), 3) if sum(abs(a[i + c] - b[i + c]) for c in range(3)) > threshold]


def distance(frame: bytes, picture: bytes, pixels: Sequence[int]) -> float:
    """Mean absolute difference per channel over `pixels` (0 equal, 255 opposite)."""
    total = sum(abs(frame[i + c] - picture[i + c]) for i in pixels for c in range(3))
    return total / (3 * max(1, len(pixels)))


def which_picture(frame: bytes, pictures: Sequence[bytes], pixels: Sequence[int], margin: float = 20.0) -> int | None:
    """The index of the picture the frame shows over `pixels` (the ones where they differ), or None
    when it is close to none of them, or not clearly closer to one (by `margin`)."""
    distances = sorted((distance(frame, p, pixels), i) for i, p in enumerate(pictures))
    best, index = distances[0]
    if best > 40 or (len(distances) > 1 and distances[1][0] - best < margin):
        return None
    return index


def share(frame: bytes, color: tuple[int, int, int]) -> float:
    """The share of a raw RGB frame's pixels close to `color` (0 to 1)."""
    r, g, b = color
    close = sum(
        1 for i in range(0, len(frame), 3) if abs(frame[i] - r) + abs(frame[i + 1] - g) + abs(frame[i + 2] - b) < 96
    )
    return close / max(1, len(frame) // 3)


class BoxWatch:
    """A live MPEG-TS feed (the ingest's transcoded feed: its top rendition) decoded as it comes by
    the system FFmpeg, cropped to `box` (x, y, width, height): `frames` lists (arrival time on the
    monotonic clock, share of the box's pixels close to `color`) for every frame. Stopped by PID."""

    def __init__(
        self,
        url: str,
        box: tuple[int, int, int, int],
        color: tuple[int, int, int],
        headers: dict[str, str] | None = None,
    ) -> None:
        """`headers`: sent with the feed's request (the ingest asks for the stream's worker credential)."""
        self.url, self.box, self.color = url, box, color
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in (headers or WORKER_AUTH).items())
        self.frames: list[tuple[float, float]] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._read, name="box-watch", daemon=True)

    def __enter__(self) -> BoxWatch:
        x, y, width, height = self.box
        self.process = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-fflags", "nobuffer", "-probesize", "500000", "-analyzeduration", "500000",
             "-threads", "1", "-headers", self.headers, "-i", self.url, "-an", "-vf", f"crop={width}:{height}:{x}:{y}",
             "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        size = self.box[2] * self.box[3] * 3
        while len(frame := self.process.stdout.read(size)) == size:
            self.frames.append((time.monotonic(), share(frame, self.color)))

    def first_since(self, since: float, shown: bool) -> float | None:
        """When the first frame after `since` showed the colour (`shown`: over 80 % of the box) or
        no longer did (under 20 %)."""
        return next((t for t, s in list(self.frames) if t > since and (s > 0.8 if shown else s < 0.2)), None)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_tree(self.process, timeout=5, group=False)
        self._thread.join(5)

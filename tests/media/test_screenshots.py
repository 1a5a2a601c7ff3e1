"""The ingest's screenshot (commands.screenshot_command) with the workers' FFmpeg: at most 1080 pixels
wide keeping the aspect ratio, as the hosted API's ("1080 pixels wide, or less if the original
stream has a lower resolution"), read from an MPEG-TS feed over HTTP as the ingest reads its own."""

from __future__ import annotations

import functools
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from devtools.media.peers import ffprobe_streams
from devtools.versions import worker_ffmpeg_env
from streamops.media.ingest.commands import screenshot_command


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def feeds(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving `tmp_path`; yields its base URL, stopped after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("source", "shot"),
    [("1920x1080", (1080, 608)), ("1280x720", (1080, 608)), ("640x360", (640, 360)), ("1080x1920", (1080, 1920))],
)
def test_a_screenshot_is_at_most_1080_wide_and_keeps_the_aspect_ratio(
    tmp_path: Path, feeds: str, source: str, shot: tuple[int, int]
) -> None:
    feed = tmp_path / f"{source}.ts"
    # Debian's FFmpeg has the test sources the workers' build leaves out: a 2-frame feed, one keyframe first.
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={source}:rate=30",
         "-frames:v", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mpegts",
         str(feed)],
        check=True, timeout=60,
    )  # fmt: skip
    out = tmp_path / "shot.jpg"
    argv = screenshot_command(f"{feeds}/{feed.name}", out)
    argv[0] = worker_ffmpeg_env()["STREAMOPS_FFMPEG"]
    subprocess.run(argv, check=True, timeout=60, stdin=subprocess.DEVNULL)
    video = ffprobe_streams(out)[0]
    assert (video["codec_name"], video["width"], video["height"]) == ("mjpeg", *shot)

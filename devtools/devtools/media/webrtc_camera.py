"""A camera for Chromium's fake capture device that shows the wall clock: a one-frame Y4M file that a
process of its own keeps overwriting with the clock strip of devtools.media.clock_source.

    with ClockCamera(tmp / "camera.y4m") as camera:
        flags = [f"--use-file-for-fake-video-capture={camera.path}", ...]

Chromium's fake device (`--use-file-for-fake-video-capture`) reads the next frame from the file at
every tick of its 1/rate timer (past the last frame it starts again at the first), so a file of one
frame rewritten in place every `period_ms` is a camera showing the clock: what Chromium captures
carries the time of the last rewrite, at most period_ms (mean period_ms/2) before the capture.
Rewritten in place, not replaced: Chromium keeps the file open. A read that meets a rewrite half-way
gives a strip whose checksum fails, counted as such by the reader (clock_strip.js).

Checked with Debian's Chromium 156 (2026-11-25): the page's own preview of the camera reads a new
clock in 29 of 30 pictures a second (each shown 3–40 ms after its burned time), and pictures
published over WHIP and played over WHEP read back at 27–46 ms (bench/results/latency.md).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from devtools.media.clock_source import ClockFrames
from devtools.media.peers import _Peer
from devtools.waits import eventually


def y4m_header(width: int, height: int, rate: int) -> bytes:
    """What FFmpeg writes for yuv420p; Chromium's parser takes W, H, F and the 4:2:0 colour tag."""
    return f"YUV4MPEG2 W{width} H{height} F{rate}:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n".encode()


FRAME_MARK = b"FRAME\n"


def write_clock_y4m(path: Path, frames: ClockFrames, rate: int, ms: int, slot: int) -> int:
    """A fresh one-frame Y4M (written whole); the offset of the frame's pixels in it."""
    header = y4m_header(frames.width, frames.height, rate) + FRAME_MARK
    path.write_bytes(header + frames.render(ms, slot))
    return len(header)


def run_camera(path: Path, *, size: str, rate: int, period_ms: float, duration: float | None) -> int:
    """Rewrite the frame every period_ms until SIGTERM/SIGINT (or duration)."""
    width, height = (int(v) for v in size.split("x"))
    frames = ClockFrames(width, height)
    tmp = path.with_name(path.name + ".tmp")
    offset = write_clock_y4m(tmp, frames, rate, time.time_ns() // 1_000_000, 0)
    os.replace(tmp, path)  # complete before anyone opens it; rewritten in place from here on
    stopping = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    period = period_ms / 1000
    frame_period_ms = 1000 / rate
    started = time.monotonic()
    rewrites = 0
    fd = os.open(path, os.O_WRONLY)
    try:
        while not stopping and (duration is None or time.monotonic() - started < duration):
            ms = time.time_ns() // 1_000_000
            # the bar moves with the clock (one step per frame period), like a camera's picture
            pixels = frames.render(ms, int(ms // frame_period_ms))
            os.pwrite(fd, pixels, offset)
            rewrites += 1
            # on a fixed schedule: a late rewrite is not followed by a burst of catching up
            next_due = started + rewrites * period
            time.sleep(max(0.0, next_due - time.monotonic()))
    finally:
        os.close(fd)
    print(f"clock camera: {rewrites} rewrites in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("path", type=Path, help="the Y4M file to keep rewriting")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--rate", type=int, default=30, help="the frame rate the Y4M header declares")
    parser.add_argument("--period-ms", type=float, default=4.0, help="rewrite the frame this often")
    parser.add_argument("--duration", type=float, help="seconds, then end (default: until SIGTERM)")
    args = parser.parse_args(argv)
    return run_camera(args.path, size=args.size, rate=args.rate, period_ms=args.period_ms, duration=args.duration)


class ClockCamera(_Peer):
    """The rewriting process as a peer (stopped by PID); start() returns once the file is complete.
    Start it before Chromium opens the device (getUserMedia): the header is read then."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        size: str = "640x360",
        rate: int = 30,
        period_ms: float = 4.0,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = Path(path)
        super().__init__(log_path if log_path is not None else self.path.with_suffix(".log"))
        self.size = size
        self.rate = rate
        self.period_ms = period_ms

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "devtools.media.webrtc_camera", str(self.path), "--size", self.size]
        return [*cmd, "--rate", str(self.rate), "--period-ms", f"{self.period_ms:g}"]

    def start(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        return super().start()

    def _ready(self) -> None:
        def written() -> bool:
            self._check_alive()
            return self.path.exists()

        eventually(written, 10, 0.02, f"the clock camera's file {self.path}")


if __name__ == "__main__":
    sys.exit(main())

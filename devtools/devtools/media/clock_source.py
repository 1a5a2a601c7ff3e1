"""A synthetic live publisher that burns the wall clock into every frame, for glass-to-glass latency.

    with ClockPublisher(nginx.rtmp_url()) as publisher:
        page = browser.open(player_url)
        sample = glass_to_glass(page, seconds=10)   # sample.median, sample.p95 (ms)

A generator process (`python -m devtools.media.clock_generator`, FFmpeg its child) pipes raw yuv420p
frames in real time into FFmpeg (H.264 + AAC, fixed GOP) pushing to rtmp://, srt:// or a file
(fragmented MP4). A strip at the top of each frame carries time.time() in ms and a CRC-16; the page
reads it back with clock_strip.js (same machine, same clock: latency = display time − burned ms).
Frames a period late are skipped, never queued. The strip's layout is defined in clock_generator
(strip_layout(), re-exported here with the rest of what the generator and a reader share).
Pacing, layout and measurements: docs/design/test-harness.md, "The clock source".
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

from devtools.media.clock_generator import (
    CHECK_BITS,
    STRIP_COLUMNS,
    STRIP_ROW_DIVISOR,
    STRIP_ROWS,
    TIME_BITS,
    ClockFrames,
    crc16,
    ffmpeg_command,
    main,
    output_format,
    read_strip,
    run_clock_source,
    strip_bits,
    strip_layout,
)
from devtools.media.peers import _Peer
from devtools.processes import proc_tree
from devtools.waits import eventually

if TYPE_CHECKING:
    from devtools.media.browser import Page

# The generator's names are re-exported: callers import the clock source from here.
__all__ = [
    "CHECK_BITS",
    "CLOCK_STRIP_JS",
    "STRIP_COLUMNS",
    "STRIP_ROWS",
    "STRIP_ROW_DIVISOR",
    "TIME_BITS",
    "ClockEncoder",
    "ClockFrame",
    "ClockFrames",
    "ClockPublisher",
    "LatencySample",
    "crc16",
    "ffmpeg_command",
    "glass_to_glass",
    "install_clock_strip",
    "main",
    "output_format",
    "read_strip",
    "run_clock_source",
    "strip_bits",
    "strip_layout",
    "video_clock_ms",
]

CLOCK_STRIP_JS = (Path(__file__).with_name("clock_strip.js")).read_text()


# --- the peer -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockFrame:
    slot: int  # index on the publisher's 1/rate schedule
    ms: int  # the wall clock burned into it


class ClockPublisher(_Peer):
    """The clock source as a peer (see the module docstring): stopped by PID (SIGTERM: FFmpeg gets
    end of input and finishes the output; KILL for the tree after the grace), stderr of both
    processes in log_path, the frames it sent in frames_path. start() returns once the first frame
    is handed to FFmpeg."""

    def __init__(
        self,
        output: str | os.PathLike[str],
        *,
        duration: float | None = None,
        size: str = "640x360",
        rate: int = 30,
        gop_seconds: float = 1.0,
        video_bitrate: str = "1500k",
        preset: str = "veryfast",
        frames_path: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        netns: str | None = None,
        start_timeout: float = 15.0,
        weighs_a_machine: bool = False,
    ) -> None:
        super().__init__(log_path, netns=netns, weighs_a_machine=weighs_a_machine)
        self.output = os.fspath(output)
        self.duration = duration
        self.size = size
        self.rate = rate
        self.gop_seconds = gop_seconds
        self.video_bitrate = video_bitrate
        self.preset = preset
        self.frames_path = Path(frames_path) if frames_path else self.log_path.with_suffix(".frames")
        self.start_timeout = start_timeout

    def command(self) -> list[str]:
        # the generator imports the standard library only: a reconnect pays no harness import
        cmd = [sys.executable, "-m", "devtools.media.clock_generator", self.output, "--size", self.size]
        cmd += ["--rate", str(self.rate), "--gop-seconds", f"{self.gop_seconds:g}"]
        cmd += ["--video-bitrate", self.video_bitrate, "--preset", self.preset, "--frames-log", str(self.frames_path)]
        if self.duration is not None:
            cmd += ["--duration", f"{self.duration:g}"]
        return cmd

    def start(self) -> Self:
        self.frames_path.parent.mkdir(parents=True, exist_ok=True)
        self.frames_path.write_text("")
        return super().start()

    def _ready(self) -> None:
        def first_frame() -> bool:
            self._check_alive()
            return self.frames_path.stat().st_size > 0

        eventually(first_frame, self.start_timeout, 0.05, f"the clock source's first frame ({self.log_path})")

    def frames(self) -> list[ClockFrame]:
        """Every frame handed to FFmpeg so far, in order."""
        # complete lines only: the generator may be writing the last one right now
        lines = self.frames_path.read_text().split("\n")[:-1]
        return [ClockFrame(int(slot), int(ms)) for slot, ms in (line.split("\t") for line in lines)]

    @property
    def ffmpeg_pid(self) -> int | None:
        """FFmpeg, the generator's child (for freezing it in tests)."""
        if self.pid is None:
            return None
        children = proc_tree(self.pid)[1:]
        return children[0] if children else None


# --- the browser side ---------------------------------------------------------------------------------


class ClockEncoder(ClockPublisher):
    """The clock source as an OBS-like encoder for ReconnectingPublisher: `url` is where it pushes,
    and a start that fails (a refused connection) leaves it stopped instead of raising, so the
    watcher tries again after its backoff, as it does with a Publisher."""

    @property
    def url(self) -> str:
        return self.output

    def start(self) -> Self:
        try:
            return super().start()
        except (RuntimeError, AssertionError):
            return self


def video_clock_ms(video: Path, size: tuple[int, int], last: bool) -> int:
    """The wall clock burned into a recorded video's first (or last) frame that still reads; `size`
    is the clock source's frame size (width, height)."""
    width, height = size
    args = ["ffmpeg", "-v", "error", *(["-sseof", "-1"] if last else []), "-i", str(video), "-map", "0:v:0",
            *([] if last else ["-frames:v", "10"]), "-f", "rawvideo", "-pix_fmt", "gray", "-"]  # fmt: skip
    raw = subprocess.run(args, capture_output=True, timeout=60, check=True).stdout
    pixels = width * height
    frames = [raw[i : i + pixels] for i in range(0, len(raw) - pixels + 1, pixels)]
    for frame in reversed(frames) if last else frames:
        if (ms := read_strip(frame, width, height)) is not None:
            return ms
    raise AssertionError(f"no readable clock in the {'last' if last else 'first'} frames of {video}")


@dataclass(frozen=True)
class LatencySample:
    """What clock_strip.js saw over a sampling window.

    frames: (burned ms, presented at ms) for each newly presented picture whose strip decoded
    (presented at = performance.timeOrigin + the frame's expectedDisplayTime: when it reaches the
    glass; measured 0–17 ms, up to one vsync, after Date.now() in the callback). presented counts
    every requestVideoFrameCallback; repeated those showing the same clock as the picture before;
    failed those whose checksum did not match. waiting counts the video's 'waiting' events
    (stalls), played_seconds how far currentTime moved in elapsed_seconds; dropped_frames is the
    player's own count (getVideoPlaybackQuality), longest_gap_ms the longest time between two
    presented pictures. median and p95 (ms) raise statistics.StatisticsError without frames."""

    frames: tuple[tuple[float, float], ...]
    presented: int
    failed: int
    repeated: int
    waiting: int
    played_seconds: float
    elapsed_seconds: float
    dropped_frames: int
    longest_gap_ms: float

    @property
    def latencies_ms(self) -> list[float]:
        return [shown - burned for burned, shown in self.frames]

    @property
    def decoded(self) -> int:
        return len(self.frames)

    @property
    def median(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p95(self) -> float:
        values = self.latencies_ms
        if len(values) < 2:
            return statistics.median(values)
        return statistics.quantiles(values, n=20, method="inclusive")[18]

    def summary(self) -> str:
        lat = f"median {self.median:.0f} ms, p95 {self.p95:.0f} ms" if self.frames else "no frame decoded"
        return (
            f"{lat}; {self.decoded} decoded, {self.failed} failed, {self.repeated} repeated of {self.presented} "
            f"presented; {self.waiting} waiting; played {self.played_seconds:.1f}s in {self.elapsed_seconds:.1f}s; "
            f"{self.dropped_frames} dropped by the player; longest gap {self.longest_gap_ms:.0f} ms"
        )


def install_clock_strip(page: Page) -> None:
    """Define window.streamopsClock in the page (idempotent)."""
    page.evaluate(CLOCK_STRIP_JS, await_promise=False)


def glass_to_glass(
    page: Page, video: str = "document.querySelector('video')", seconds: float = 10.0, *, timeout: float | None = None
) -> LatencySample:
    """Sample the clock strip of every picture the <video> presents for `seconds` (video: a
    JavaScript expression for the element)."""
    install_clock_strip(page)
    expression = f"streamopsClock.sample({video}, {seconds * 1000:.0f}, {json.dumps(strip_layout())})"
    result = page.evaluate(expression, timeout=timeout or seconds + 30)
    return LatencySample(
        frames=tuple((float(b), float(s)) for b, s in result["frames"]),
        presented=int(result["presented"]),
        failed=int(result["failed"]),
        repeated=int(result["repeated"]),
        waiting=int(result["waiting"]),
        played_seconds=float(result["played"]),
        elapsed_seconds=float(result["elapsed"]),
        dropped_frames=int(result["dropped"]),
        longest_gap_ms=float(result["longestGap"]),
    )


if __name__ == "__main__":  # the generator process, as before clock_generator had it
    sys.exit(main())

"""A synthetic live publisher that burns the wall clock into every frame, for glass-to-glass latency.

    with ClockPublisher(nginx.rtmp_url()) as publisher:
        page = browser.open(player_url)
        sample = glass_to_glass(page, seconds=10)   # sample.median, sample.p95 (ms)

A generator process (`python -m devtools.media.clock_source`, FFmpeg its child) pipes raw yuv420p
frames in real time into FFmpeg (H.264 + AAC, fixed GOP) pushing to rtmp://, srt:// or a file
(fragmented MP4). A strip at the top of each frame carries time.time() in ms and a CRC-16; the page
reads it back with clock_strip.js (same machine, same clock: latency = display time − burned ms).
Frames a period late are skipped, never queued. The strip's layout is defined here (strip_layout()).
Pacing, layout and measurements: docs/design/test-harness.md, "The clock source".
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from devtools.media.peers import _FORMAT_BY_SCHEME, _Peer, _with_srt_linger
from devtools.processes import proc_tree
from devtools.waits import eventually

if TYPE_CHECKING:
    from devtools.media.browser import Page

STRIP_COLUMNS = 32
STRIP_ROWS = 2
STRIP_ROW_DIVISOR = 15  # a block is 1/15 of the frame's height (24 px at 360p)
TIME_BITS = 48  # ms since the epoch fit in 41 bits until the year 2039; 48 leave room
CHECK_BITS = 16
WHITE, BLACK, BACKGROUND = 235, 16, 80  # luma (video range); chroma stays neutral (128)

CLOCK_STRIP_JS = (Path(__file__).with_name("clock_strip.js")).read_text()


def strip_layout() -> dict[str, int]:
    """The layout as clock_strip.js takes it (the one definition is here)."""
    return {"columns": STRIP_COLUMNS, "rows": STRIP_ROWS, "rowDivisor": STRIP_ROW_DIVISOR, "timeBits": TIME_BITS}


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): clock_strip.js computes the same."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def strip_bits(ms: int) -> list[int]:
    """The 64 bits burned for a time in ms, most significant first."""
    word = (ms << CHECK_BITS) | crc16(ms.to_bytes(TIME_BITS // 8, "big"))
    total = TIME_BITS + CHECK_BITS
    return [(word >> (total - 1 - i)) & 1 for i in range(total)]


def _block(column: int, row: int, width: int, height: int) -> tuple[int, int, int, int]:
    """x0, x1, y0, y1 of a block: fractions of the frame, rounded the same way for any size."""
    x0, x1 = column * width // STRIP_COLUMNS, (column + 1) * width // STRIP_COLUMNS
    y0, y1 = row * height // STRIP_ROW_DIVISOR, (row + 1) * height // STRIP_ROW_DIVISOR
    return x0, x1, y0, y1


def read_strip(luma: bytes | bytearray | memoryview, width: int, height: int) -> int | None:
    """The ms burned into a luma plane (e.g. ffmpeg -pix_fmt gray), or None when the checksum fails:
    the Python twin of clock_strip.js, for checks without a browser."""
    bits = []
    for index in range(STRIP_COLUMNS * STRIP_ROWS):
        x0, x1, y0, y1 = _block(index % STRIP_COLUMNS, index // STRIP_COLUMNS, width, height)
        # the middle half of the block: away from the edges H.264 blurs
        xs = range(x0 + (x1 - x0) // 4, x1 - (x1 - x0) // 4)
        ys = range(y0 + (y1 - y0) // 4, y1 - (y1 - y0) // 4)
        total = sum(luma[y * width + x] for y in ys for x in xs)
        bits.append(1 if total > (WHITE + BLACK) / 2 * len(xs) * len(ys) else 0)
    word = 0
    for bit in bits:
        word = (word << 1) | bit
    ms, check = word >> CHECK_BITS, word & 0xFFFF
    return ms if crc16(ms.to_bytes(TIME_BITS // 8, "big")) == check else None


class ClockFrames:
    """yuv420p frames: a grey background, a white bar sweeping across (so the picture visibly moves
    and the encoder has some motion), and the clock strip. ≈0.3 ms of Python per 640×360 frame."""

    def __init__(self, width: int, height: int) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs an even size, not {width}x{height}")
        self.width, self.height = width, height
        luma = width * height
        self._base = bytes([BACKGROUND]) * luma + bytes([128]) * (luma // 2)
        self._blocks = [
            _block(i % STRIP_COLUMNS, i // STRIP_COLUMNS, width, height) for i in range(STRIP_COLUMNS * STRIP_ROWS)
        ]
        self._strip_bottom = STRIP_ROWS * height // STRIP_ROW_DIVISOR
        self._bar_width = max(2, width // 40)

    @property
    def size(self) -> int:
        return len(self._base)

    def render(self, ms: int, slot: int) -> bytearray:
        frame = bytearray(self._base)
        w = self.width
        for bit, (x0, x1, y0, y1) in zip(strip_bits(ms), self._blocks, strict=True):
            run = bytes([WHITE if bit else BLACK]) * (x1 - x0)
            for y in range(y0, y1):
                frame[y * w + x0 : y * w + x1] = run
        # the bar moves by slot, not by frames sent: a skipped slot shows as a jump, like a camera's
        x = (slot * 4) % (w - self._bar_width)
        bar = bytes([WHITE]) * self._bar_width
        for y in range(self._strip_bottom + 8, self.height):
            frame[y * w + x : y * w + x + self._bar_width] = bar
        return frame


def ffmpeg_command(
    output: str, *, size: str, rate: int, gop: int, video_bitrate: str, preset: str, fmt: str | None
) -> list[str]:
    """FFmpeg reading raw frames on stdin, timestamped by the wall clock at read, plus a sine."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
    # a tiny probe: encode from the first frame on, not after probing a few (no -fflags nobuffer:
    # that discards the probed frame, and the first burned clock never reaches the output)
    cmd += ["-probesize", "32", "-analyzeduration", "0"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", size, "-framerate", str(rate)]
    cmd += ["-use_wallclock_as_timestamps", "1", "-i", "pipe:0"]
    # a filter-graph source, not a second -i: with one input file FFmpeg reads the pipe itself,
    # without an input thread and its queue of frames
    cmd += ["-filter_complex", "sine=frequency=440:sample_rate=48000[a]", "-map", "0:v", "-map", "[a]"]
    cmd += ["-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-pix_fmt", "yuv420p"]
    cmd += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    cmd += ["-b:v", video_bitrate, "-maxrate", video_bitrate, "-bufsize", video_bitrate]
    # -shortest: the sine never ends; the stream does when the frames do
    # vfr with a 1 ms encoder time base: in the default 1/30 s one, two frames read less than a slot
    # apart (FFmpeg catching up after a stall) round to one timestamp and one of them is dropped
    cmd += ["-fps_mode", "vfr", "-enc_time_base", "1:1000"]
    cmd += ["-c:a", "aac", "-b:a", "96k", "-shortest"]
    if fmt == "mp4":
        # fragmented: playable while written and after a kill, progressively or through MSE
        cmd += ["-movflags", "+frag_keyframe+empty_moov+default_base_moof"]
    if fmt:
        cmd += ["-f", fmt]
    return [*cmd, output]


def output_format(output: str) -> str | None:
    """flv for rtmp://, mpegts for srt:// (like devtools.media.peers.Publisher); MP4 for a file path."""
    scheme = urlsplit(output).scheme
    if scheme in _FORMAT_BY_SCHEME:
        return _FORMAT_BY_SCHEME[scheme]
    if not scheme or scheme == "file":
        return "mp4" if output.endswith((".mp4", ".m4v")) else None
    return None


# --- the generator process ----------------------------------------------------------------------------


def run_clock_source(
    output: str,
    *,
    size: str = "640x360",
    rate: int = 30,
    gop_seconds: float = 1.0,
    video_bitrate: str = "1500k",
    preset: str = "veryfast",
    duration: float | None = None,
    frames_log: IO[str] | None = None,
) -> int:
    """Feed FFmpeg in real time until SIGTERM/SIGINT or duration; FFmpeg's exit status.

    frames_log gets "slot<TAB>ms" for every frame handed over (slot = index on the 1/rate schedule:
    a gap is a skipped slot)."""
    width, height = (int(v) for v in size.split("x"))
    frames = ClockFrames(width, height)
    gop = max(1, round(rate * gop_seconds))
    fmt = output_format(output)
    cmd = ffmpeg_command(
        _with_srt_linger(output), size=size, rate=rate, gop=gop, video_bitrate=video_bitrate, preset=preset, fmt=fmt
    )
    log(f"clock source {size}@{rate} GOP {gop} -> {output}: {' '.join(cmd)}")
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ffmpeg = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, bufsize=0)
    assert ffmpeg.stdin is not None
    pipe = ffmpeg.stdin.fileno()
    with contextlib.suppress(OSError):  # one page: the kernel then buffers no whole frame for FFmpeg
        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, 4096)
    period = 1.0 / rate
    start = time.monotonic()
    slot = sent = skipped = 0
    try:
        while not stopping and (duration is None or slot * period < duration):
            due = start + slot * period
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            elif now - due >= period:
                late = int((now - due) / period)  # slots whose time has passed: dropped, not queued
                slot += late
                skipped += late
                continue
            ms = time.time_ns() // 1_000_000
            frame = memoryview(frames.render(ms, slot))
            while frame:
                frame = frame[os.write(pipe, frame) :]
            if frames_log is not None:
                frames_log.write(f"{slot}\t{ms}\n")
                frames_log.flush()
            if sent == 0:  # the schedule starts when FFmpeg takes the first frame (≈0.1 s after launch)
                start = time.monotonic()
            slot += 1
            sent += 1
    except BrokenPipeError:
        log("FFmpeg stopped reading (exited?)")
    finally:
        with contextlib.suppress(OSError):
            ffmpeg.stdin.close()  # end of input: FFmpeg flushes the encoder and closes the output
        try:
            code = ffmpeg.wait(10)
        except subprocess.TimeoutExpired:
            ffmpeg.kill()
            code = ffmpeg.wait()
        took = time.monotonic() - start
        log(f"clock source: {sent} frames sent, {skipped} slots skipped in {took:.1f}s; FFmpeg exit {code}")
    return code


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("output", help="rtmp://…, srt://… or a file (.mp4: fragmented MP4)")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--rate", type=int, default=30)
    parser.add_argument("--gop-seconds", type=float, default=1.0)
    parser.add_argument("--video-bitrate", default="1500k")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--duration", type=float, help="seconds of frames, then end (default: until SIGTERM)")
    parser.add_argument("--frames-log", type=Path, help="append 'slot<TAB>ms' per frame sent")
    args = parser.parse_args(argv)
    with open(args.frames_log, "a") if args.frames_log else contextlib.nullcontext() as frames_log:
        return run_clock_source(
            args.output,
            size=args.size,
            rate=args.rate,
            gop_seconds=args.gop_seconds,
            video_bitrate=args.video_bitrate,
            preset=args.preset,
            duration=args.duration,
            frames_log=frames_log,
        )


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
    ) -> None:
        super().__init__(log_path, netns=netns)
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
        cmd = [sys.executable, "-m", "devtools.media.clock_source", self.output, "--size", self.size]
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


if __name__ == "__main__":
    sys.exit(main())

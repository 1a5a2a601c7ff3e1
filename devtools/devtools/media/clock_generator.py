"""The clock source's generator process (`python -m devtools.media.clock_generator`, FFmpeg its
child): raw yuv420p frames with the wall clock burned into a strip, piped in real time into FFmpeg,
which encodes and pushes them. `devtools.media.clock_source` runs it (ClockPublisher, ClockEncoder)
and has the rest: the peer, reading a strip back in a browser or a video.

Why a module of its own, importing the standard library only: an encoder that reconnects as OBS
does (ReconnectingPublisher) starts this process again at every reconnect, and what it imports is
paid each time, while the viewer waits. Through devtools.media.peers (asyncio, ssl, the harness)
that was 0.13-0.21 CPU seconds a start, against 0.04-0.09 s now; at load 20 on 2 cores the
encoder's restart took 0.7-1.2 s of wall time beyond its backoff (docs/design/handover.md, Part 4,
"Where a loaded run's stall went"). Keep it so: no import from the harness here.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from devtools.media.push_urls import FORMAT_BY_SCHEME, with_srt_linger

STRIP_COLUMNS = 32
STRIP_ROWS = 2
STRIP_ROW_DIVISOR = 15  # a block is 1/15 of the frame's height (24 px at 360p)
TIME_BITS = 48  # ms since the epoch fit in 41 bits until the year 2039; 48 leave room
CHECK_BITS = 16
WHITE, BLACK, BACKGROUND = 235, 16, 80  # luma (video range); chroma stays neutral (128)


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
    if scheme in FORMAT_BY_SCHEME:
        return FORMAT_BY_SCHEME[scheme]
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
        with_srt_linger(output), size=size, rate=rate, gop=gop, video_bitrate=video_bitrate, preset=preset, fmt=fmt
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
    slot = sent = skipped = last_ms = 0
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
            # Strictly increasing: a late slot and the next one, both sent at once, fall in one ms
            # (ci82: two frames burned 1796094303427); a frame's time is its identity downstream.
            ms = last_ms = max(time.time_ns() // 1_000_000, last_ms + 1)
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


if __name__ == "__main__":
    sys.exit(main())

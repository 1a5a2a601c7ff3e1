"""FfmpegProcess against the real FFmpeg: however much it prints on stderr, and however it ends its
lines, the worker keeps reading, so FFmpeg never blocks on a full stderr pipe. (asyncio's line
reader died on 64 KiB of \\r-ended stats lines; FFmpeg then hung once its pipe was full, which at
the default -stats_period is a recording stalled after ≈8 min.)"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from streamops.media.ffmpeg import PROGRESS_PIPE, FfmpegProcess, Progress


def run_to_end(process: FfmpegProcess) -> int:
    """`process` started and waited for; an FFmpeg still running after 60 s is blocked on its stderr
    pipe: killed by PID (stop() would wait for that pipe) and the test fails."""

    async def run() -> int:
        await process.start()
        try:
            return await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            assert process.pid is not None
            os.kill(process.pid, signal.SIGKILL)
            raise AssertionError(f"FFmpeg blocked: {list(process.tail)[-3:]}") from None

    return asyncio.run(run())


def test_a_flood_of_carriage_return_stats_lines_neither_kills_the_reader_nor_blocks_ffmpeg() -> None:
    # -stats with a tiny period: ≈ MiBs of \r-ended lines within seconds (the old reader hung
    # FFmpeg within the 60 s below, measured).
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-stats", "-stats_period", "0.0001", "-loglevel", "info",
            "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=30", "-t", "300", "-c:v", "rawvideo",
            "-f", "null", "-"]  # fmt: skip
    process = FfmpegProcess("flood", argv, lambda s: s, logging.getLogger("test"))
    rc = run_to_end(process)
    assert rc == 0, process.tail
    assert any(line.startswith("frame=") for line in process.tail), "the stats lines were read as lines"


def test_a_paced_stderr_flooded_between_progress_blocks_never_blocks_ffmpeg() -> None:
    """The ingest's sessions read stderr at each -progress block (FfmpegProcess.stderr_paced). Here a
    block comes once a second, as in a session, and between two of them FFmpeg logs a line per frame
    (showinfo) as fast as it decodes: far more than the pipe holds. Debian's FFmpeg 5.1 logs and
    writes its progress from one thread, so a full pipe also held the next block back: it waited for
    good (this test, before PACED_STDERR_LATE_SECONDS) until a late block made the pipe read again."""
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-progress", PROGRESS_PIPE, "-stats_period", "1",
            "-loglevel", "info", "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=30", "-t", "300",
            "-vf", "showinfo", "-c:v", "rawvideo", "-f", "null", "-"]  # fmt: skip
    blocks: list[Progress] = []
    process = FfmpegProcess("flood", argv, lambda s: s, logging.getLogger("test"), on_progress=blocks.append)
    process.stderr_paced = True
    rc = run_to_end(process)
    assert rc == 0, process.tail
    assert blocks and blocks[-1].end and blocks[-1].frame == 9000
    assert any("showinfo" in line for line in process.tail), "its stderr read to the end"

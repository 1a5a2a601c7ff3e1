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


def test_a_flood_of_carriage_return_stats_lines_neither_kills_the_reader_nor_blocks_ffmpeg() -> None:
    # -stats with a tiny period: ≈ MiBs of \r-ended lines within seconds (the old reader hung
    # FFmpeg within the 60 s below, measured).
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-stats", "-stats_period", "0.0001", "-loglevel", "info",
            "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=30", "-t", "300", "-c:v", "rawvideo",
            "-f", "null", "-"]  # fmt: skip

    async def run() -> tuple[int, FfmpegProcess]:
        process = FfmpegProcess("flood", argv, lambda s: s, logging.getLogger("test"))
        await process.start()
        try:
            rc = await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:  # blocked on its stderr pipe: kill it by PID (stop() would wait for that pipe)
            assert process.pid is not None
            os.kill(process.pid, signal.SIGKILL)
            raise AssertionError(f"FFmpeg blocked: {list(process.tail)[-3:]}") from None
        return rc, process

    rc, process = asyncio.run(run())
    assert rc == 0, process.tail
    assert any(line.startswith("frame=") for line in process.tail), "the stats lines were read as lines"


def test_a_paced_stderr_flooded_between_progress_blocks_never_blocks_ffmpeg() -> None:
    """The ingest's sessions read stderr at each -progress block (FfmpegProcess.stderr_paced): the
    same flood, now read a block at a time, still never fills the pipe under FFmpeg."""
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-stats", "-progress", PROGRESS_PIPE, "-stats_period", "0.0001",
            "-loglevel", "info", "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=30", "-t", "300",
            "-c:v", "rawvideo", "-f", "null", "-"]  # fmt: skip
    blocks: list[Progress] = []

    async def run() -> tuple[int, FfmpegProcess]:
        process = FfmpegProcess("flood", argv, lambda s: s, logging.getLogger("test"), on_progress=blocks.append)
        process.stderr_paced = True
        await process.start()
        try:
            rc = await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            assert process.pid is not None
            os.kill(process.pid, signal.SIGKILL)
            raise AssertionError(f"FFmpeg blocked: {list(process.tail)[-3:]}") from None
        return rc, process

    rc, process = asyncio.run(run())
    assert rc == 0, process.tail
    assert blocks and blocks[-1].end and blocks[-1].frame == 9000
    assert any(line.startswith("frame=") for line in process.tail), "its stderr read to the end"

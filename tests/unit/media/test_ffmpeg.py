"""FFmpeg's stderr as the worker reads it: lines end at \\n or at \\r (the stats line), and no line,
however long, stops the reading (tests/media/test_ffmpeg_process.py runs it against FFmpeg)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import ffmpeg as ffmpeg_python
import pytest
from streamops.media import ffmpeg
from streamops.media.ffmpeg import (
    MAX_STDERR_LINE,
    PROGRESS_PIPE,
    FfmpegProcess,
    Progress,
    command,
    stderr_lines,
)


def test_lines_end_at_newline_or_carriage_return_and_the_rest_waits() -> None:
    lines, rest = stderr_lines(b"", b"Input #0, flv\nframe=  1 fps=0.0\rframe=  2 fps=30\rOutput #0")
    assert lines == [b"Input #0, flv", b"frame=  1 fps=0.0", b"frame=  2 fps=30"]
    assert rest == b"Output #0"
    lines, rest = stderr_lines(rest, b", mp4, to 'x.mp4':\r\n")
    assert lines == [b"Output #0, mp4, to 'x.mp4':"] and rest == b""


def test_a_line_without_end_longer_than_the_limit_is_passed_on_not_held() -> None:
    lines, rest = stderr_lines(b"x" * MAX_STDERR_LINE, b"yy")
    assert lines == [b"x" * MAX_STDERR_LINE + b"yy"] and rest == b""


def test_every_command_turns_the_stats_line_off() -> None:
    graph = ffmpeg_python.output(ffmpeg_python.input("in.ts"), "out.mp4", c="copy")
    for argv in (command(graph), command(graph, progress=False, loglevel="warning")):
        assert argv.count("-nostats") == 1 and argv.index("-nostats") < argv.index("-i")


# A child standing in for FFmpeg: its input dump on stderr, then progress blocks on the -progress
# pipe with stderr lines between them, the last one unfinished; it goes on past the first block
# once told to on its stdin (so it is still running, its stderr open, when that block is read).
PACED_CHILD = """
import os, sys
fd = int(sys.argv[1].split(":")[1])
def err(text):
    sys.stderr.write(text)
    sys.stderr.flush()
def block(frame, state):
    os.write(fd, f"frame={frame}\\nout_time_us={frame * 33333}\\nprogress={state}\\n".encode())
err("Input #0, flv\\n")
block(1, "continue")
sys.stdin.readline()
err("one\\n")
block(2, "continue")
err("two\\nlast, unfinished")
block(3, "end")
"""


def test_a_paced_stderr_is_read_at_each_progress_block_and_to_its_end() -> None:
    """Issue 53's quiet supervisor: after the first -progress block the ingest's sessions read
    stderr at each block, not as each line comes; every line still arrives, in order, the
    unfinished last one too, and the pipe is read to EOF once the blocks end."""

    async def run() -> tuple[int, FfmpegProcess, list[tuple[int, bool]]]:
        blocks: list[tuple[int, bool]] = []  # (frame, stderr read as it comes when the block came)

        def progress(p: Progress) -> None:
            assert process._paced is not None and process.process is not None
            blocks.append((p.frame, process._paced.watching))
            if p.frame == 1:
                assert process.process.stdin is not None
                process.process.stdin.write(b"go\n")

        argv = [sys.executable, "-c", PACED_CHILD, PROGRESS_PIPE]
        process = FfmpegProcess("paced", argv, lambda s: s, logging.getLogger("test"), on_progress=progress)
        process.stderr_paced, process.stdin = True, asyncio.subprocess.PIPE
        await process.start()
        return await asyncio.wait_for(process.wait(), 30), process, blocks

    rc, process, blocks = asyncio.run(run())
    assert rc == 0
    assert list(process.tail) == ["Input #0, flv", "one", "two", "last, unfinished"]
    assert blocks == [(1, True), (2, False), (3, False)], "as it comes until the first block, then paced"
    assert process._paced is not None and process._paced.done.done() and not process._paced.watching


def test_a_paced_stderr_is_read_as_it_comes_again_once_a_block_is_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """No block PACED_STDERR_LATE_SECONDS after the last: the pipe is watched again, so an FFmpeg
    whose next block waits behind its own full stderr is never held for good."""
    monkeypatch.setattr(ffmpeg, "PACED_STDERR_LATE_SECONDS", 0.05)

    async def run() -> list[bytes]:
        read_fd, write_fd = os.pipe()
        lines: list[bytes] = []
        paced = ffmpeg.PacedStderr(read_fd, lines.append)
        paced.pace()
        assert not paced.watching, "paced: read at blocks only"
        os.write(write_fd, b"held back\n")
        for _ in range(200):  # the timer's watch(), then the reader's read: events, bounded at 10 s
            if lines:
                break
            await asyncio.sleep(0.05)
        assert paced.watching, "the late block made the pipe watched again"
        os.close(write_fd)
        await asyncio.wait_for(paced.done, 10)
        return lines

    assert asyncio.run(run()) == [b"held back"]

"""FFmpeg's stderr as the worker reads it: lines end at \\n or at \\r (the stats line), and no line,
however long, stops the reading (tests/media/test_ffmpeg_process.py runs it against FFmpeg)."""

from __future__ import annotations

import ffmpeg as ffmpeg_python
from streamops.media.ffmpeg import MAX_STDERR_LINE, command, stderr_lines


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

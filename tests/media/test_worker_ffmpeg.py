"""The workers' FFmpeg (hack/build-ffmpeg.sh: Debian's FFmpeg 5.1 source, only what the workers use)
is what the media tests and benchmarks run, and it has every component the command lines name.
The rest of the media tier is the proof that nothing is missing in practice: every ingest, recorder
and pusher there runs this build."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

from devtools.media.peers import Publisher
from devtools.media.workers import Ingest
from devtools.processes import proc_tree, start_ticks
from devtools.versions import worker_ffmpeg_env
from devtools.waits import wait_for
from streamops.media.ffmpeg import PROTOCOLS_BY_SCHEME


def _executables(pids: list[int]) -> dict[int, str]:
    """pid -> the binary it runs, for those still running: the ingest's short-lived children (the
    screenshot's FFmpeg) may exit between the listing and the readlink (CI run of 39554e4)."""
    found: dict[int, str] = {}
    for pid in pids:
        try:
            found[pid] = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
    return found


def _components(flag: str) -> set[str]:
    out = subprocess.run(
        [worker_ffmpeg_env()["STREAMOPS_FFMPEG"], "-hide_banner", flag], capture_output=True, text=True, check=True
    ).stdout
    return {name for line in out.splitlines() for word in line.split() for name in word.split(",")}


def test_an_ingest_session_runs_the_workers_ffmpeg_not_the_hosts(ingest: Ingest, tmp_path: Path) -> None:
    publisher = Publisher(ingest.rtmp_url(), log_path=tmp_path / "publisher.log").start()
    try:
        ingest.wait_live()
        assert ingest.process is not None
        ffmpegs = wait_for(
            lambda: {
                p: exe for p, exe in _executables(proc_tree(ingest.process.pid)[1:]).items() if exe.endswith("/ffmpeg")
            },
            10,
            0.2,
            "the session's FFmpeg",
        )
        lean = os.path.realpath(worker_ffmpeg_env()["STREAMOPS_FFMPEG"])
        assert set(ffmpegs.values()) == {lean}
        # the oldest (the screenshot's FFmpeg comes and goes; one that has gone sorts last)
        session = min(ffmpegs, key=lambda p: start_ticks(p) or math.inf)
        maps = Path(f"/proc/{session}/maps").read_text()
        assert "libavcodec" not in maps and "libSDL" not in maps, "libav* linked in, no desktop libraries"
    finally:
        publisher.stop()


def test_the_build_has_every_protocol_the_workers_allow() -> None:
    protocols = _components("-protocols")
    wanted = {p for whitelist in PROTOCOLS_BY_SCHEME.values() for p in whitelist.split(",")}
    wanted |= {"file", "pipe", "http", "tcp", "rtmp", "srt", "udp"}  # feed, parts, the gate, SRT listener
    assert wanted - protocols == set()


def test_the_build_has_the_formats_and_codecs_the_command_lines_name() -> None:
    assert {"mpegts", "hls", "mp4", "dash", "tee", "flv", "image2"} <= _components("-muxers")
    assert {"flv", "mpegts", "concat", "hls", "mov", "lavfi"} <= _components("-demuxers") | _components("-devices")
    encoders = _components("-encoders")
    assert {"libx264", "aac", "mjpeg"} <= encoders
    assert {"h264", "hevc", "aac"} <= _components("-decoders")
    assert {"aac_adtstoasc", "h264_mp4toannexb"} <= _components("-bsfs")
    assert {"split", "scale", "anullsrc", "aresample"} <= _components("-filters")

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
from devtools.media.webrtc import rtp_ports
from devtools.media.workers import Ingest
from devtools.ports import udp_bound
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


def test_the_build_sends_h264_and_opus_as_rtp_and_reads_them_back_through_an_sdp_file(tmp_path: Path) -> None:
    """What the WebRTC paths need of this build (components/webrtc): H.264 and Opus out as RTP (to
    the component's WHEP input), and RTP described by an SDP file in (a WHIP publisher's media,
    forwarded by the component with payload types 96 and 111), on 127.0.0.1 only."""
    ffmpeg = worker_ffmpeg_env()["STREAMOPS_FFMPEG"]
    assert {"rtp"} <= _components("-muxers") and {"sdp", "rtp"} <= _components("-demuxers")
    assert "libopus" in _components("-encoders") and "rtp" in _components("-protocols")
    source = tmp_path / "source.ts"  # Debian's FFmpeg has the test sources this build leaves out
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
         "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "8", "-c:v", "libx264", "-preset", "ultrafast",
         "-g", "15", "-bf", "0", "-c:a", "aac", "-f", "mpegts", str(source)],
        check=True, timeout=60,
    )  # fmt: skip
    taken: set[int] = set()
    video, audio = rtp_ports(taken), rtp_ports(taken)
    sdp = tmp_path / "in.sdp"
    sdp.write_text(
        "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=test\nc=IN IP4 127.0.0.1\nt=0 0\n"
        f"m=video {video} RTP/AVP 96\na=rtpmap:96 H264/90000\na=fmtp:96 packetization-mode=1\n"
        f"m=audio {audio} RTP/AVP 111\na=rtpmap:111 opus/48000/2\n"
    )
    reader = subprocess.Popen(
        [ffmpeg, "-hide_banner", "-nostdin", "-protocol_whitelist", "file,udp,rtp", "-localaddr", "127.0.0.1",
         "-i", str(sdp), "-map", "0:v", "-map", "0:a", "-c:v", "copy", "-c:a", "aac", "-frames:v", "30",
         "-f", "null", "-"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    sender = None
    try:
        wait_for(lambda: udp_bound(video) and udp_bound(audio), timeout=10, what="the reader's RTP ports")
        # as the ingest will feed WHEP viewers from an RTMP/SRT session: video copied (in-band SPS/PPS),
        # AAC -> Opus
        sender = subprocess.Popen(
            [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-i", str(source),
             "-map", "0:v", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-payload_type", "96",
             "-f", "rtp", f"rtp://127.0.0.1:{video}?pkt_size=1200",
             "-map", "0:a", "-c:a", "libopus", "-ar", "48000", "-payload_type", "111",
             "-f", "rtp", f"rtp://127.0.0.1:{audio}?pkt_size=1200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _, log = reader.communicate(timeout=30)
    finally:
        for proc in (reader, sender):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
    # as the WHIP session will: video copied, Opus -> AAC; it stops after 30 frames (or times out)
    assert reader.returncode == 0, log[-2000:]
    assert "Video: h264" in log and "Audio: opus" in log, log[-2000:]

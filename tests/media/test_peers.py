"""The media peers themselves work: real ffmpeg, nginx-rtmp and srt-live-transmit on 127.0.0.1."""

from __future__ import annotations

import contextlib
import itertools
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from devtools.media import peers
from devtools.media.peers import NginxRtmp, Publisher, SrtListener, ffprobe_duration, ffprobe_streams, worker_ffprobe
from devtools.ports import free_port
from devtools.processes import alive, proc_cpu_seconds, proc_rss_bytes, proc_tree
from devtools.waits import wait_for

P = TypeVar("P", bound=peers._Peer)
TOOLS = ("ffmpeg", "ffprobe", "nginx", "srt-live-transmit")
pytestmark = [
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in TOOLS) or not peers.RTMP_MODULE.exists(),
        reason=f"needs {', '.join(TOOLS)} and {peers.RTMP_MODULE} (make deps)",
    ),
    pytest.mark.timeout(60),
]


def pgrep(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", re.escape(pattern)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


class Started:
    """Enters peers into one stack; on teardown stops them and proves their process trees are gone."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.peers: list[peers._Peer] = []
        self.pids: set[int] = set()
        self.markers: list[str] = []

    def __call__(self, peer: P, marker: str) -> P:
        """Start peer; marker is a string unique to its command line, for pgrep -f."""
        self.stack.enter_context(peer)
        self.peers.append(peer)
        self.markers.append(marker)
        self.snapshot()
        return peer

    def snapshot(self) -> None:
        """Remember every process of every running peer (nginx forks its workers after start)."""
        for peer in self.peers:
            if peer.pid and peer.running:
                self.pids.update(proc_tree(peer.pid))

    def close(self) -> None:
        self.snapshot()
        self.stack.close()
        running = sorted(pid for pid in self.pids if alive(pid))
        assert not running, f"still running after stop: {running}"
        for marker in self.markers:
            found = pgrep(marker)
            assert not found, f"pgrep -f {marker!r} still finds {found}"


@pytest.fixture
def started() -> Iterator[Started]:
    tracker = Started()
    try:
        yield tracker
    finally:
        tracker.close()


def video_and_audio(streams: list[dict]) -> tuple[dict, dict | None]:
    video = next(s for s in streams if s["codec_type"] == "video")
    audio = next((s for s in streams if s["codec_type"] == "audio"), None)
    return video, audio


def test_free_port_is_bindable_on_loopback():
    for kind, sock_type in (("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)):
        port = free_port(kind)
        with socket.socket(socket.AF_INET, sock_type) as sock:
            sock.bind(("127.0.0.1", port))


def test_wait_for_returns_the_value_or_times_out():
    assert wait_for(lambda: 42, timeout=1) == 42
    with pytest.raises(TimeoutError, match="never"):
        wait_for(lambda: None, timeout=0.2, interval=0.05, what="never")


def test_publisher_into_nginx_rtmp_is_720p_h264_aac(started: Started, tmp_path: Path):
    nginx = started(NginxRtmp(workdir=tmp_path / "nginx"), str(tmp_path / "nginx"))
    url = nginx.rtmp_url(name="cam")
    pub = started(Publisher(url, live=True, log_path=tmp_path / "pub.log"), url)
    wait_for(lambda: "cam" in nginx.publishing(), 10, what="nginx sees the publish")
    started.snapshot()

    video, audio = video_and_audio(ffprobe_streams(url, ffprobe=worker_ffprobe()))
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 1280, 720)
    assert audio is not None and audio["codec_name"] == "aac"

    # /proc accounting sees the encoder work and nginx's master + worker(s)
    # (over a window that grows until it holds: one 1 s sample fails on a loaded machine)
    cpu0, t0 = proc_cpu_seconds(pub.pid), time.monotonic()
    wait_for(lambda: (proc_cpu_seconds(pub.pid) - cpu0) / (time.monotonic() - t0) > 0.05, 20, 0.5, "encoder CPU")
    assert proc_rss_bytes(pub.pid) > 10_000_000
    assert len(proc_tree(nginx.pid)) >= 2
    assert proc_rss_bytes(nginx.pid) > proc_rss_bytes(nginx.pid, include_children=False) > 0
    assert pub.running and pub.started_at is not None


def test_nginx_hls_writes_playlist_and_segments(started: Started, tmp_path: Path):
    nginx = started(NginxRtmp(hls=True, workdir=tmp_path / "nginx"), str(tmp_path / "nginx"))
    url = nginx.rtmp_url(name="cam")
    pub = started(Publisher(url, log_path=tmp_path / "pub.log"), url)
    wait_for(lambda: nginx.playlist("cam").exists() and nginx.segments("cam"), 10, what="first HLS fragment")
    assert pub.started_at is not None and time.monotonic() - pub.started_at < 10
    started.snapshot()

    with urllib.request.urlopen(nginx.hls_url("cam"), timeout=5) as resp:
        playlist = resp.read().decode()
    assert playlist.startswith("#EXTM3U") and "cam-0.ts" in playlist
    video, _ = video_and_audio(ffprobe_streams(nginx.hls_dir / "cam-0.ts", ffprobe=worker_ffprobe()))
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 1280, 720)


def test_nginx_push_relays_to_another_server(started: Started, tmp_path: Path):
    edge = started(NginxRtmp(workdir=tmp_path / "edge"), str(tmp_path / "edge"))
    origin = started(NginxRtmp(push=edge.app_url(), workdir=tmp_path / "origin"), str(tmp_path / "origin"))
    url = origin.rtmp_url(name="cam")
    started(Publisher(url, size="320x240", log_path=tmp_path / "pub.log"), url)
    wait_for(lambda: "cam" in edge.publishing(), 10, what="the pushed stream on the edge")
    started.snapshot()
    video, _ = video_and_audio(ffprobe_streams(edge.rtmp_url(name="cam"), ffprobe=worker_ffprobe()))
    assert (video["width"], video["height"]) == (320, 240)


@pytest.mark.parametrize("tool", ["srt-live-transmit", "ffmpeg"])
def test_srt_listener_receives_an_srt_push(started: Started, tmp_path: Path, tool: str):
    srt = started(SrtListener(tmp_path / "got.ts", tool=tool, log_path=tmp_path / "srt.log"), "")
    started.markers[-1] = f"127.0.0.1:{srt.port}"
    assert srt.url == f"srt://127.0.0.1:{srt.port}?mode=caller"
    pub = started(Publisher(srt.url, duration=3, log_path=tmp_path / "pub.log"), srt.url)
    started.snapshot()
    assert pub.wait(15) == 0, pub.log_tail()
    if tool == "ffmpeg":
        assert srt.wait(10) == 0, srt.log_tail()  # one publish, then it exits by itself
    else:
        wait_for(lambda: srt.received_bytes() > 500_000, 5, what="received bytes")

    video, audio = video_and_audio(ffprobe_streams(srt.output, ffprobe=worker_ffprobe()))
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 1280, 720)
    assert audio is not None and audio["codec_name"] == "aac"
    assert ffprobe_duration(srt.output, ffprobe=worker_ffprobe()) > 2.8  # the whole 3 s push, tail included


def test_srt_listener_passphrase(started: Started, tmp_path: Path):
    key = "correct-horse-battery"
    srt = started(SrtListener(tmp_path / "got.ts", passphrase=key, log_path=tmp_path / "srt.log"), "")
    started.markers[-1] = f"127.0.0.1:{srt.port}"
    assert srt.url.endswith(f"mode=caller&passphrase={key}")

    wrong = Publisher(
        srt.url.replace(key, "wrong-horse-battery"), size="320x240", duration=3, log_path=tmp_path / "wrong.log"
    )
    with wrong:
        assert wrong.wait(10) != 0  # rejected in the handshake
    assert srt.received_bytes() == 0

    right = started(Publisher(srt.url, size="320x240", duration=2, log_path=tmp_path / "right.log"), srt.url)
    assert right.wait(10) == 0, right.log_tail()
    wait_for(lambda: srt.received_bytes() > 0, 5, what="decrypted bytes")
    video, _ = video_and_audio(ffprobe_streams(srt.output, ffprobe=worker_ffprobe()))
    assert (video["width"], video["height"]) == (320, 240)
    # all of it: without linger on the caller, live-mode SRT drops the unsent last second at close
    assert ffprobe_duration(srt.output, ffprobe=worker_ffprobe()) > 1.5


def test_publisher_adds_srt_linger_only_where_missing():
    assert Publisher("srt://127.0.0.1:9?mode=caller").url == "srt://127.0.0.1:9?mode=caller&linger=3"
    assert Publisher("srt://127.0.0.1:9").url == "srt://127.0.0.1:9?linger=3"
    assert Publisher("srt://127.0.0.1:9?linger=0").url == "srt://127.0.0.1:9?linger=0"
    assert Publisher("rtmp://127.0.0.1:9/live/x").url == "rtmp://127.0.0.1:9/live/x"


def test_publisher_stop_and_failed_start_leave_nothing(started: Started, tmp_path: Path):
    # stop() of an endless publisher: SIGTERM, ffmpeg finishes its output and exits
    port = free_port()
    pub = Publisher(f"rtmp://127.0.0.1:{port}/live/x", log_path=tmp_path / "pub.log")
    with pub:
        pass
    assert pub.returncode is not None and not alive(pub.pid)

    # a taken port makes nginx fail to start: start() raises with nginx's log and stops what it started
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        nginx = NginxRtmp(rtmp_port=taken.getsockname()[1], workdir=tmp_path / "nginx")
        try:
            with pytest.raises(RuntimeError, match="Address already in use"):
                nginx.start()
        finally:
            nginx.stop()  # only does something if the test failed
    assert nginx.pid is not None and not alive(nginx.pid)
    assert not pgrep(str(tmp_path / "nginx"))


def test_stop_kills_a_tree_that_ignores_sigterm(tmp_path: Path):
    marker = f"streamops-stubborn-{free_port()}"

    class Stubborn(peers._Peer):
        def command(self) -> list[str]:
            return ["sh", "-c", f"trap '' TERM; sleep 300 & sleep 301; : {marker}"]

    peer = Stubborn(tmp_path / "stubborn.log").start()
    tree = wait_for(lambda: len(proc_tree(peer.pid)) >= 3 and proc_tree(peer.pid), 5)
    peer.stop(grace=0.3)
    assert not [pid for pid in tree if alive(pid)]
    assert not pgrep(marker)


def test_the_publishers_clip_loops_with_continuous_timestamps_and_keyframes_on_the_gop(tmp_path: Path) -> None:
    """The publisher pushes a cached clip in a loop (peers.publisher_clip): across the loop neither
    stream's timestamps jump or go back, and keyframes stay every GOP (2 s), as a live encoder's."""
    pub = Publisher(str(tmp_path / "two-loops.flv"), duration=2 * peers.CLIP_SECONDS + 4, fmt="flv")
    assert not pub.live
    argv = [a for a in pub.command() if a != "-re"]  # the same push, as fast as it goes
    assert "-c" in argv and argv[argv.index("-c") + 1] == "copy" and "libx264" not in argv
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=stream_index,pts_time,flags", "-of", "csv=p=0",
         str(tmp_path / "two-loops.flv")],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    streams = {
        s["index"]: s["codec_type"] for s in ffprobe_streams(tmp_path / "two-loops.flv", ffprobe=worker_ffprobe())
    }
    last: dict[str, float] = {}
    keyframes = []
    for line in out.split():
        index, pts, flags = line.split(",")[:3]
        kind, t = streams[int(index)], float(pts)
        if kind in last:
            step = t - last[kind]
            assert 0 < step <= 0.05, f"{kind} jumps by {step:.3f} s at {t:.3f} s"
        last[kind] = t
        if kind == "video" and "K" in flags:
            keyframes.append(t)
    assert last["video"] > 2 * peers.CLIP_SECONDS and last["audio"] > 2 * peers.CLIP_SECONDS, last
    assert [round(b - a, 2) for a, b in itertools.pairwise(keyframes)] == [2.0] * (len(keyframes) - 1)


def test_a_publisher_with_encoder_options_pushes_a_clip_of_its_own_and_live_encodes_on_demand() -> None:
    # encode_args go into a clip of their own (after the defaults: they win), output_args with the copy
    clipped = Publisher("rtmp://127.0.0.1:9/live/x", encode_args=["-bf", "3"], output_args=["-vn"])
    assert not clipped.live and peers._publisher_encode_args(clipped)[-2:] == ["-bf", "3"]
    assert clipped.command()[-4:-2] == ["-vn", "-f"]
    assert "libx264" in Publisher("rtmp://127.0.0.1:9/live/x", live=True).command()

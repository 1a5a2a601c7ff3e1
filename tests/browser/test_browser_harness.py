"""The browser harness itself: confined headless Chromium, H.264 + AAC through Media Source
Extensions, and the clock strip (devtools.media.clock_source) read back from a playing <video>."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.media import peers
from devtools.media.browser import CHROMIUM, Browser, DevToolsError, JavaScriptError, Page, inet_sockets
from devtools.media.clock_source import (
    ClockFrames,
    ClockPublisher,
    crc16,
    glass_to_glass,
    install_clock_strip,
    read_strip,
)
from devtools.media.peers import NginxRtmp, ffprobe_streams
from devtools.processes import alive, proc_tree
from devtools.waits import wait_for

from devtools import netns

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists() or shutil.which("ffmpeg") is None,
        reason=f"needs {CHROMIUM} (Debian's chromium) and ffmpeg (make deps)",
    ),
    pytest.mark.timeout(120),
]

# High profile, level 3.1: what hls.js asks MSE for with a 720p30 rendition of the workers
MP4_TYPE = 'video/mp4; codecs="avc1.64001f,mp4a.40.2"'


def decoded_luma_frames(media: str, width: int, height: int, *, frames: int | None = None) -> list[bytes]:
    """Every picture of a file or stream as an 8-bit luma plane (FFmpeg decodes: no browser)."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", media, "-fps_mode", "passthrough"]
    cmd += [*(["-frames:v", str(frames)] if frames else []), "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    out = subprocess.run(cmd, capture_output=True, timeout=60, check=True).stdout
    size = width * height
    return [out[i : i + size] for i in range(0, len(out) - size + 1, size)]


def make_test_media(path: Path, seconds: float) -> Path:
    """testsrc2 + a sine as H.264 High@3.1 (avc1.64001f) + AAC in fragmented MP4, 640×360@30."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"]
    cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", f"{seconds:g}"]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-level:v", "3.1", "-pix_fmt", "yuv420p"]
    cmd += ["-g", "30", "-c:a", "aac", "-b:a", "96k"]
    cmd += ["-movflags", "+frag_keyframe+empty_moov+default_base_moof", str(path)]
    subprocess.run(cmd, check=True, timeout=60)
    return path


# --- Chromium, confined ---------------------------------------------------------------------------


def test_chromium_starts_confined_and_evaluates_javascript(browser: Browser, page: Page, static_site: Any):
    (static_site.root / "index.html").write_text("<!doctype html><title>harness</title><p id=p>served</p>")
    page.navigate(static_site.url("index.html"))
    assert page.evaluate("document.getElementById('p').textContent") == "served"
    assert page.evaluate("Promise.resolve(6 * 7)") == 42
    assert page.evaluate("({a: [1, 'two'], b: null})") == {"a": [1, "two"], "b": None}
    assert "HeadlessChrome" in page.evaluate("navigator.userAgent")

    page.evaluate("console.error('from the page', {code: 7})")
    with pytest.raises(JavaScriptError, match="rejected on purpose"):
        page.evaluate("Promise.reject(new Error('rejected on purpose'))")
    assert any(m.level == "error" and "from the page" in m.text and "code: 7" in m.text for m in page.console), (
        page.console_tail()
    )

    # Started as the binary with an empty environment, every guard on its command line
    cmdline = Path(f"/proc/{browser.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[0].decode() == str(CHROMIUM)
    args = [a.decode() for a in cmdline]
    for flag in ("--headless", "--disable-background-networking", "--disable-component-update", "--no-pings"):
        assert flag in args
    assert any(a.startswith("--host-resolver-rules=MAP * ~NOTFOUND") for a in args), args
    assert any(a.startswith("--proxy-server=127.0.0.1:") for a in args), args
    environ = dict(
        entry.split("=", 1) for entry in Path(f"/proc/{browser.pid}/environ").read_text().split("\0") if "=" in entry
    )
    assert not {k for k in environ if "PROXY" in k.upper() or k.startswith("GOOGLE_")}, environ
    assert environ["HOME"] == str(browser.profile_dir)

    # Every inet socket of every Chromium process: loopback only (there is at least the CDP one)
    sockets = browser.sockets()
    assert sockets, "no socket found: the check would prove nothing"
    assert all(s.on_loopback for s in sockets), [s for s in sockets if not s.on_loopback]


# Documentation ranges (RFC 5737, RFC 3849), checked unused on the host before the namespace gets them
WAY_OUT_V4, WAY_OUT_V6 = "198.51.100.2/24", "2001:db8::2/64"


@contextlib.contextmanager
def namespace_with_a_way_out(name: str) -> Iterator[Callable[[], int]]:
    """A network namespace whose default routes (IPv4 and IPv6) lead out through a veth into a
    second namespace of ours that answers nothing, where the OUTPUT chain drops and counts every
    packet towards that way out (except the kernel's own IGMP/MLD/neighbour discovery): so a program
    inside sees a network it could try to use, nothing it sends gets anywhere, and we can count its
    attempts. Yields the counter (packets dropped so far)."""
    host = netns.ip("-j", "addr") + netns.ip("route", "show", "table", "all") + netns.ip("-6", "route")
    assert "198.51.100." not in host and "2001:db8:" not in host, "the test's address ranges are in use here"
    sink = f"{name}-sink"
    for ns in (name, sink):
        netns.create(ns)
    try:
        netns.ip("link", "set", "lo", "up", netns=name)
        netns.ip("link", "add", "out0", "type", "veth", "peer", "name", "out1", "netns", sink, netns=name)
        for ns, dev in ((name, "out0"), (sink, "out1")):
            netns.ip("link", "set", dev, "addrgenmode", "none", netns=ns)  # no link-local chatter
            netns.ip("link", "set", dev, "up", netns=ns)
        netns.ip("addr", "add", WAY_OUT_V4, "dev", "out0", netns=name)
        netns.ip("addr", "add", WAY_OUT_V6, "dev", "out0", "nodad", netns=name)
        netns.ip("route", "add", "default", "via", "198.51.100.1", netns=name)
        netns.ip("-6", "route", "add", "default", "via", "2001:db8::1", netns=name)
        for tool, kernel in (("iptables", "igmp"), ("ip6tables", "ipv6-icmp")):
            netns.run(name, [tool, "-A", "OUTPUT", "-o", "out0", "-p", kernel, "-j", "ACCEPT"])
            netns.run(name, [tool, "-A", "OUTPUT", "-o", "out0", "-j", "DROP"])

        def dropped() -> int:
            total = 0
            for tool in ("iptables", "ip6tables"):
                listing = netns.run(name, [tool, "-L", "OUTPUT", "-v", "-x", "-n"])
                total += sum(int(line.split()[0]) for line in listing.splitlines() if " DROP " in line)
            return total

        yield dropped
    finally:
        for ns in (name, sink):
            netns.delete(ns)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nsenter") is None or shutil.which("iptables") is None,
    reason="needs root, nsenter and iptables",
)
def test_chromium_never_tries_to_leave_loopback(site_factory: Callable[..., Any]):
    """In a namespace with a way out (namespace_with_a_way_out), Chromium loads a page from its
    127.0.0.1, is sent to names and to addresses beyond loopback, plays media and idles, and not one
    packet heads for the way out: names and other addresses fail at the resolver rules or the dead
    proxy. (Measured: an unguarded Chromium there sent 203 packets in 15 s, DNS to the host's
    resolver among them.)"""
    name = f"sobrowser{os.getpid()}"
    with namespace_with_a_way_out(name) as dropped:
        site = site_factory("inside", netns=name)
        (site.root / "index.html").write_text("<!doctype html><p id=p>inside</p>")
        (site.root / "play.html").write_text('<!doctype html><video id="v" src="av.mp4" muted autoplay></video>')
        make_test_media(site.root / "av.mp4", seconds=2)
        with Browser(netns=name) as browser:
            assert Path(f"/proc/{browser.pid}/ns/net").stat().st_ino == netns.inode(netns.netns_path(name))
            page = browser.open(site.url("index.html"))
            assert page.evaluate("document.getElementById('p').textContent") == "inside"
            for url in ("http://example.com/", "http://198.51.100.77/", "https://[2001:db8::77]:8443/x"):
                with pytest.raises(DevToolsError) as failed:
                    page.navigate(url)
                refused = ("ERR_PROXY_CONNECTION_FAILED", "ERR_NAME_NOT_RESOLVED")
                assert any(error in str(failed.value) for error in refused), f"{url}: {failed.value}"
            page.navigate(site.url("play.html"))
            page.wait_until("document.getElementById('v').currentTime > 0.5", timeout=30)
            fetched = "fetch('http://198.51.100.77/').then(() => 'fetched', () => 'refused')"
            assert page.evaluate(fetched) == "refused"
            time.sleep(5)  # background services' first runs (no timing asserted)
            assert all(s.on_loopback for s in browser.sockets()), browser.sockets()
        site.close()
        assert dropped() == 0
        with netns.entered(name):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with probe, contextlib.suppress(OSError):  # EPERM from the DROP rule
            probe.sendto(b"x", ("198.51.100.9", 9))
        assert dropped() == 1, "the counter did not see a packet sent on purpose: the check proves nothing"
    assert not netns.exists(name)


def test_browser_stops_by_pid_and_removes_its_profile():
    with Browser() as browser:
        tree = proc_tree(browser.pid or 0)
        profile = browser.profile_dir
        assert len(tree) > 1 and profile.is_dir()
        assert browser.open().evaluate("document.readyState") == "complete"
    assert not any(alive(pid) for pid in tree)
    assert not profile.exists()
    assert inet_sockets(tree) == []


def test_a_browser_that_cannot_start_reports_its_stderr(tmp_path: Path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display: no such thing here' >&2\nexit 3\n")
    fake.chmod(0o755)
    browser = Browser(executable=fake, start_timeout=10)
    with pytest.raises(RuntimeError, match="cannot open display") as failed:
        browser.start()
    assert "exited with 3" in str(failed.value)
    assert not browser.profile_dir.exists()


# --- H.264 + AAC through Media Source Extensions ------------------------------------------------------

MSE_PAGE = """<!doctype html>
<meta charset="utf-8">
<video id="v" playsinline></video>
<script>
window.mse = (async () => {
  const video = document.getElementById("v");
  const source = new MediaSource();
  video.src = URL.createObjectURL(source);
  await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
  const buffer = source.addSourceBuffer(TYPE);
  const data = await (await fetch("av.mp4")).arrayBuffer();
  await new Promise((resolve, reject) => {
    buffer.addEventListener("updateend", resolve, { once: true });
    buffer.addEventListener("error", () => reject(new Error("SourceBuffer error")), { once: true });
    buffer.appendBuffer(data);
  });
  source.endOfStream();
  await video.play();
  return "playing";
})().catch((error) => `failed: ${error}`);
</script>
"""


def test_h264_aac_fragmented_mp4_plays_through_media_source_extensions(page: Page, static_site: Any):
    supported = page.evaluate(f"MediaSource.isTypeSupported({json.dumps(MP4_TYPE)})")
    assert supported is True, f"this Chromium cannot play {MP4_TYPE} through MSE: the browser tier cannot work"

    media = make_test_media(static_site.root / "av.mp4", seconds=3)
    video = next(s for s in ffprobe_streams(media) if s["codec_type"] == "video")
    assert (video["profile"], video["level"]) == ("High", 31)  # avc1.64001f

    (static_site.root / "index.html").write_text(MSE_PAGE.replace("TYPE", json.dumps(MP4_TYPE)))
    page.navigate(static_site.url("index.html"))
    assert page.evaluate("window.mse", timeout=30) == "playing", page.console_tail()
    page.wait_until("document.getElementById('v').currentTime >= 1.5", timeout=30)
    state = page.evaluate(
        """(() => { const v = document.getElementById("v");
        return {error: v.error && v.error.message, width: v.videoWidth, height: v.videoHeight,
                frames: v.getVideoPlaybackQuality().totalVideoFrames,
                audioBytes: v.webkitAudioDecodedByteCount}; })()"""
    )
    assert state["error"] is None, page.console_tail()
    assert (state["width"], state["height"]) == (640, 360)
    assert state["frames"] > 0 and state["audioBytes"] > 0, state


# --- the clock strip -------------------------------------------------------------------------------


def test_clock_strip_reads_back_in_python_and_javascript(page: Page):
    assert crc16(b"123456789") == 0x29B1  # the published check value of CRC-16/CCITT-FALSE
    install_clock_strip(page)
    assert page.evaluate(f"streamopsClock.crc16({json.dumps(list(b'123456789'))})") == 0x29B1

    frames = ClockFrames(640, 360)
    ms = 1_795_000_000_123
    frame = frames.render(ms, slot=17)
    assert len(frame) == frames.size == 640 * 360 * 3 // 2
    assert read_strip(frame, 640, 360) == ms
    corrupted = bytearray(frame)
    for y in range(24):  # the first block (20×24 px at 640×360), black for white or white for black
        corrupted[y * 640 : y * 640 + 20] = bytes([255 - frame[10]]) * 20
    assert read_strip(corrupted, 640, 360) is None


CLOCK_PAGE = '<!doctype html><video id="v" src="clock.mp4" muted playsinline></video>'


def test_clock_strip_round_trips_through_h264_and_the_browser(page: Page, static_site: Any):
    media = static_site.root / "clock.mp4"
    with ClockPublisher(media, duration=5, log_path=static_site.root / "clock.log") as publisher:
        assert publisher.wait(60) == 0, publisher.log_tail()
    burned = [f.ms for f in publisher.frames()]
    assert len(burned) >= 2 and burned == sorted(burned) and len(set(burned)) == len(burned)

    # FFmpeg's decode: every frame handed over is in the file, in order, its clock intact
    assert [read_strip(luma, 640, 360) for luma in decoded_luma_frames(str(media), 640, 360)] == burned

    # the browser's: every picture presented carries a clock the publisher burned, in order
    (static_site.root / "index.html").write_text(CLOCK_PAGE)
    page.navigate(static_site.url("index.html"))
    page.evaluate("document.getElementById('v').play()")
    sample = glass_to_glass(page, "document.getElementById('v')", seconds=3)
    assert sample.failed == 0, f"{sample.summary()}\n{page.console_tail()}"
    assert sample.decoded >= 2, f"{sample.summary()}\n{page.console_tail()}"
    assert sample.decoded + sample.repeated + sample.failed == sample.presented
    index = {ms: i for i, ms in enumerate(burned)}
    positions = [index.get(int(ms)) for ms, _ in sample.frames]
    assert None not in positions, [ms for ms, _ in sample.frames if int(ms) not in index]
    assert positions == sorted(positions) and len(set(positions)) == len(positions), positions
    # a replay: every picture is shown after its clock was burned
    assert min(sample.latencies_ms) > 0
    assert sample.median >= min(sample.latencies_ms) and sample.p95 >= sample.median


# --- the clock publisher live ------------------------------------------------------------------------------


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxRtmp]:
    if shutil.which("nginx") is None or not peers.RTMP_MODULE.exists():
        pytest.skip("needs nginx with the RTMP module (make deps)")
    with NginxRtmp(workdir=tmp_path / "nginx") as server:
        yield server


def test_clock_publisher_pushes_live_and_stops_by_pid(nginx: NginxRtmp, tmp_path: Path):
    publisher = ClockPublisher(nginx.rtmp_url(), log_path=tmp_path / "clock.log", gop_seconds=1)
    with publisher:
        tree = proc_tree(publisher.pid or 0)
        assert len(tree) == 2 and publisher.ffmpeg_pid == tree[1]  # the generator and its FFmpeg
        pictures = decoded_luma_frames(nginx.rtmp_url(), 640, 360, frames=45)
        burned = {f.ms: i for i, f in enumerate(publisher.frames())}
    assert publisher.returncode == 0, publisher.log_tail()  # SIGTERM: end of input, FFmpeg finishes
    assert not any(alive(pid) for pid in tree)
    assert "frames sent" in publisher.log_tail()

    clocks = [read_strip(luma, 640, 360) for luma in pictures]
    assert len(clocks) == 45 and None not in clocks, clocks
    positions = [burned.get(ms) for ms in clocks if ms is not None]
    assert None not in positions and positions == sorted(positions), positions


def test_clock_publisher_drops_frames_rather_than_queueing_them(tmp_path: Path):
    """While FFmpeg is frozen the generator is blocked in its write: at most the one frame in flight
    carries a clock from the freeze; afterwards it resumes on its schedule, skipping the slots
    that passed instead of sending them late."""
    rate, frozen_for = 30, 1.5
    with ClockPublisher(tmp_path / "clock.mp4", rate=rate, log_path=tmp_path / "clock.log") as publisher:
        # Frames on their schedule before the freeze (waited for: the gaps below need some)
        wait_for(lambda: len(publisher.frames()) >= 5, timeout=20, interval=0.05, what="frames before the freeze")
        ffmpeg = publisher.ffmpeg_pid
        assert ffmpeg is not None
        os.kill(ffmpeg, signal.SIGSTOP)
        frozen_at = time.time() * 1000
        try:
            time.sleep(frozen_for)
        finally:
            thawed_at = time.time() * 1000
            os.kill(ffmpeg, signal.SIGCONT)
        count = len(publisher.frames())
        for _ in range(200):  # until a few frames after the thaw are logged (no timing asserted)
            if len([f for f in publisher.frames() if f.ms >= thawed_at]) >= 3:
                break
            time.sleep(0.05)
        frames = publisher.frames()
    assert len(frames) > count
    during = [f for f in frames if frozen_at <= f.ms < thawed_at]
    # The frame in flight, and on a loaded machine possibly the first one after the thaw: the clock
    # reads around os.kill are not where FFmpeg really stopped and resumed reading (seen in a CI run:
    # slots 17 and 61 both inside the window). A queueing generator would log a run of slots here.
    assert len(during) <= 2, during
    assert all(b.slot - a.slot >= int(frozen_for * rate) - 3 for a, b in itertools.pairwise(during)), during
    gaps = [b.slot - a.slot for a, b in itertools.pairwise(frames)]
    # the schedule moved on by the frozen time, minus the frame in flight and rounding
    assert max(gaps) >= int(frozen_for * rate) - 3, gaps
    assert all(b.ms > a.ms for a, b in itertools.pairwise(frames))

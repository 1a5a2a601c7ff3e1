"""Pusher worker with real FFmpeg: the ingest's live feed forwarded as is to nginx-rtmp and to an
SRT listener, the key from a file and nowhere else, a dead or frozen target retried with backoff
while the stream and the other targets carry on, a source that goes offline waited for.

Measurements (CPU/RSS of the pusher, latency the hop adds) are printed with a MEASURED prefix:
`pytest -s tests/media/test_pusher.py` shows them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import ipaddress
import re
import socket
import ssl
import statistics
import struct
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.peers import NginxRtmp, Publisher, SrtListener, TcpForwarder, TlsForwarder, ffprobe_streams
from devtools.media.workers import WORKER_AUTH, Ingest
from devtools.pki import new_ca, sign_server
from devtools.ports import free_port
from devtools.processes import proc_cpu_seconds, proc_rss_bytes, proc_tree
from devtools.versions import worker_ffmpeg_env
from devtools.waits import wait_for
from streamops.egress.media_destinations import pinned_to
from streamops.media.mpegts import packet_pid, payload, payload_start, program_streams
from streamops.media.pusher.commands import push_target
from streamops.media.pusher.tcp_info import established_tcp

BACKOFF_CAP = 10.0  # the pusher's default backoff maxSeconds
# The backoff a test gives its own pusher (the typed config's `backoff`) where it waits through the
# schedule: the same exponential backoff with full jitter, capped at 2 s instead of BACKOFF_CAP, so a
# dead target is retried several times in a few seconds. resetAfterSeconds stays the default (10 s).
SHORT_BACKOFF_CAP = 2.0
SHORT_BACKOFF = {"initialSeconds": 0.5, "maxSeconds": SHORT_BACKOFF_CAP}
# The watchdog (stallSeconds) of the pusher whose target stops reading: 5 s instead of the default
# 8, 3 s past the live window (2 s) for `live` to turn false first, as it must at any setting. Not
# behind the big receive buffer: that test measures its acknowledgements for 3 s after live turned
# false, on a link the watchdog must not have closed by then.
STALL = 5.0


def codecs(streams: list[dict[str, Any]]) -> dict[str, tuple[str, int | None, int | None]]:
    return {s["codec_type"]: (s["codec_name"], s.get("width"), s.get("height")) for s in streams}


def probe_at_once(*targets: str | tuple[str, dict[str, str]]) -> list[dict[str, tuple[str, int | None, int | None]]]:
    """codecs() of each live URL (or (URL, headers)), probed side by side: each ffprobe of a live
    stream waits seconds for its analysis, and they are independent."""
    with ThreadPoolExecutor(len(targets)) as pool:
        probes = []
        for target in targets:
            url, headers = (target, None) if isinstance(target, str) else target
            probes.append(pool.submit(ffprobe_streams, url, headers=headers))
        return [codecs(probe.result()) for probe in probes]


# --- the feed --------------------------------------------------------------------------------------------


class Feed:
    """The live feed the pushers read: the ingest worker (GET /feed, the contract in DESIGN.md),
    published into by a synthetic 720p30 H.264 (+ AAC) publisher. The one place to swap the source."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.publisher: Publisher | None = None

    @property
    def url(self) -> str:
        return self.ingest.feed_url

    def publish(self, audio: bool = True) -> Feed:
        log = self.ingest.workdir / "publisher.log"
        self.publisher = Publisher(self.ingest.rtmp_url(), audio=audio, log_path=log).start()
        self.ingest.wait_live()
        return self

    def unpublish(self) -> None:
        if self.publisher is not None:
            self.publisher.stop()
            self.publisher = None

    def status(self) -> dict[str, Any]:
        return self.ingest.status()


@pytest.fixture
def feed(ingest: Ingest) -> Iterator[Feed]:
    """A feed of the test's own, not yet published: for a test that restarts the ingest or publishes
    something else."""
    source = Feed(ingest)
    try:
        yield source
    finally:
        source.unpublish()


@pytest.fixture(scope="module")
def _module_feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Feed]:
    ingest = Ingest(tmp_path_factory.mktemp("ingest"))
    ingest.start()
    source = Feed(ingest)
    try:
        yield source
    finally:
        source.unpublish()
        ingest.stop()


@pytest.fixture
def live_feed(_module_feed: Feed) -> Feed:
    """The module's one ingest and publisher, live, shared by the tests that read the feed (each with
    pushers and targets of its own; one that stops the publisher publishes again before it ends): an
    ingest and its publisher starting took seconds a test."""
    if _module_feed.publisher is None or not _module_feed.publisher.running:
        _module_feed.unpublish()
        return _module_feed.publish()
    _module_feed.ingest.wait_live()
    return _module_feed


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxRtmp]:
    with NginxRtmp(workdir=tmp_path / "nginx") as server:
        yield server


def measure_usage(pid: int, seconds: float = 5.0) -> tuple[float, float, int, int]:
    """CPU % of one core (whole tree, FFmpeg alone) over a window, RSS bytes (whole tree, FFmpeg alone)."""
    children = proc_tree(pid)[1:]
    c0, f0, t0 = proc_cpu_seconds(pid), sum(proc_cpu_seconds(c) for c in children), time.monotonic()
    time.sleep(seconds)
    c1, f1, t1 = proc_cpu_seconds(pid), sum(proc_cpu_seconds(c) for c in children), time.monotonic()
    rss_ffmpeg = sum(proc_rss_bytes(c, include_children=False) for c in children)
    return 100 * (c1 - c0) / (t1 - t0), 100 * (f1 - f0) / (t1 - t0), proc_rss_bytes(pid), rss_ffmpeg


# --- 1. RTMP ------------------------------------------------------------------------------------------------


def test_pushes_the_feed_as_is_to_rtmp_with_the_key_from_the_file(live_feed, nginx, pushers):
    key = "rk-SECRET-7f3a9c-target-key"
    pusher = pushers("to-nginx", live_feed.url, nginx.app_url(), key)
    status = pusher.wait_live()
    assert status["state"] == "live" and status["target"] == nginx.app_url() and status["lastError"] is None
    assert status["startedAt"] and status["reconnects"] == 0
    assert http_get(pusher.http + "/readyz")[0] == 200

    # The key is the stream name on the target; the media is the source's, untouched.
    assert nginx.publishing() == {key}
    source, received = probe_at_once((live_feed.url, WORKER_AUTH), nginx.rtmp_url(name=key))
    assert received["video"] == source["video"] == ("h264", 1280, 720)
    assert received["audio"][0] == source["audio"][0] == "aac"

    first, since = pusher.status()["bytesSent"], time.monotonic()
    cpu, ffmpeg_cpu, rss, ffmpeg_rss = measure_usage(pusher.process.pid)

    sent = [first]

    def rate_so_far() -> float:
        sent.append(pusher.status()["bytesSent"])
        return (sent[-1] - first) * 8 / (time.monotonic() - since)

    # The rate over a window that grows until it is the stream's: one sample of 5 s fails now and
    # then on a loaded machine (a source that stalls for 2 s, or the GOP cache's burst).
    rate, deadline = rate_so_far(), time.monotonic() + 30
    while not 1_000_000 < rate < 8_000_000 and time.monotonic() < deadline:
        time.sleep(1)
        rate = rate_so_far()
    assert 1_000_000 < rate < 8_000_000, f"≈2.6 Mbit/s of a 2.5 Mbit/s stream, got {rate:.0f} bit/s"
    print(
        f"\nMEASURED pusher 720p30 copy to RTMP: tree {cpu:.1f}% of a core (FFmpeg {ffmpeg_cpu:.1f}%), "
        f"RSS {rss / 2**20:.0f} MiB (FFmpeg {ffmpeg_rss / 2**20:.0f} MiB), {rate / 1e6:.2f} Mbit/s"
    )
    assert cpu < 30 and rss < 200 * 2**20, "a copy relay is cheap"
    metrics = http_get(pusher.control + "/metrics")[1].decode()
    assert 'streamops_pusher_state{state="live",stream="cam",target="to-nginx"} 1.0' in metrics
    assert re.search(r'^streamops_pusher_sent_bytes_total\{stream="cam",target="to-nginx"\} [1-9]', metrics, re.M)

    # The publisher leaves: FFmpeg ends with the feed, the pusher waits for the source, no penalty.
    live_feed.unpublish()
    waiting = wait_for(lambda: (s := pusher.status())["state"] == "waiting-for-source" and s, timeout=15)
    assert not waiting["live"] and waiting["reconnects"] == 0 and waiting["lastError"] is None
    assert http_get(pusher.http + "/readyz")[0] == 503
    live_feed.publish()
    back = pusher.wait_live()
    assert back["bytesSent"] > waiting["bytesSent"] >= sent[-1], "bytesSent adds up across sessions"
    assert back["reconnects"] == 1, "a new publish on the target is a reconnect ..."
    assert back["failures"] == 0 and back["lastError"] is None, "... not a failure"

    assert key not in pusher.texts(), "the key appears nowhere: logs (debug included), /status, /metrics"
    assert "-args_file" in pusher.ffmpeg_command_line(), "nor on FFmpeg's command line: in the FIFO"
    assert "rtmp://127.0.0.1" in pusher.logs() and "***" in pusher.logs(), "the debug log has the redacted URL"


def test_pushes_to_rtmps_only_once_the_target_is_verified(live_feed, nginx, pushers, tmp_path):
    """The attack: someone on the network answers at the target's address with a certificate of their
    own (here a forwarder's self-signed one, not given to the pusher). The pusher completes the TLS
    handshake, refuses the certificate, and sends nothing: not a byte of RTMP after the handshake (the
    key would be in its publish), no publish upstream. Given the CA (tls.caSecretRef's file), a target
    is verified (its IP SAN names the URL's host) and goes live. Both at once: the test's time stays."""
    key, stolen = "rtmps-KEY-5e8d1b", "rtmps-KEY-not-for-them"
    with (
        TlsForwarder(nginx.rtmp_port, tmp_path / "tls") as tls,
        TlsForwarder(nginx.rtmp_port, tmp_path / "evil") as evil,
    ):
        uri = tls.url()
        refused = pushers("to-rtmps-unverified", live_feed.url, evil.url(), stolen)
        pusher = pushers("to-rtmps", live_feed.url, uri, key, tlsCaFile=str(tls.cert))
        failed = wait_for(lambda: (s := refused.status())["failures"] >= 1 and s, timeout=15, what="refused")
        assert failed["lastError"].startswith(f"the certificate of the target 127.0.0.1:{evil.port} is not trusted")
        assert not failed["live"] and failed["bytesSent"] == 0, failed
        assert evil.connections >= 1 and evil.bytes_in == 0, "handshakes, and nothing sent after them"
        assert stolen not in refused.texts()

        assert pusher.wait_live()["target"] == uri
        assert nginx.publishing() == {key}, "the refused pusher never published"
        assert codecs(ffprobe_streams(nginx.rtmp_url(name=key)))["video"] == ("h264", 1280, 720)
        assert key not in pusher.texts()
        assert evil.bytes_in == 0


def test_a_target_at_a_refused_address_gets_nothing(live_feed, pushers):
    """Issue 52, finding 9: a Restream's target at an internal address (127.0.0.2: outside the test's
    allow-list, as the cluster's Pods, nodes and the metadata address are outside an admin's) was
    connected to, and its status told a closed port from a silent one. The egress guard refuses it
    before FFmpeg runs, says only "refused by policy", and the listener there sees no connection."""
    inside = socket.create_server(("127.0.0.2", 0))
    inside.setblocking(False)
    try:
        port = inside.getsockname()[1]
        refused = pushers("to-inside", live_feed.url, f"rtmp://127.0.0.2:{port}/live", "inside-KEY-1")
        srt = pushers("to-inside-srt", live_feed.url, f"srt://127.0.0.2:{port}?mode=caller", "inside-KEY-2")
        for pusher in (refused, srt):
            failed = wait_for(lambda p=pusher: (s := p.status())["failures"] >= 1 and s, timeout=15, what="refused")
            assert failed["lastError"] == "refused by policy" and failed["bytesSent"] == 0, failed
            assert "inside-KEY" not in pusher.texts()
        with pytest.raises(BlockingIOError):
            inside.accept()  # nobody connected
    finally:
        inside.close()


class NamedTlsForwarder(TlsForwarder):
    """An rtmps:// target whose certificate names a host (a DNS SAN, from a CA of the test's), noting
    the name each client asked for in its TLS hello (SNI; None: it named none)."""

    NAME = "stream.test"

    def _ssl_context(self) -> ssl.SSLContext:
        pki = self.workdir / "pki"
        self.ca = new_ca(pki, "restream target CA")
        now = datetime.now(UTC)
        crt, key = sign_server(pki, "target", (self.NAME,), now - timedelta(hours=1), now + timedelta(days=1))
        self.server_names: list[str | None] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(crt, key)
        context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        return context


def test_a_pinned_rtmps_target_is_verified_named_and_greeted_by_its_host(nginx, tmp_path):
    """The egress guard hands FFmpeg the address it checked instead of the name (pinned_to, as the
    pusher does for `rtmps://stream.test:PORT/live`, pinned to 127.0.0.1). FFmpeg then still checks
    the certificate against the name (`-verifyhost`), names it in its TLS hello (our FFmpeg's tls
    patch: FFmpeg 7.1 sent no SNI to an address) and in the tcUrl, and nginx-rtmp takes the publish.
    Pinned the same way under a name the certificate does not carry: refused, nothing published."""
    clip = tmp_path / "clip.flv"  # made by the host's FFmpeg: the workers' has no test sources
    source = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "4"]
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", *source, "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", "25", str(clip)], check=True)  # fmt: skip
    with NamedTlsForwarder(nginx.rtmp_port, tmp_path / "tls") as tls:

        def push(name: str, key: str) -> subprocess.Popen[bytes]:
            pinned = pinned_to(f"rtmps://{name}:{tls.port}/live", ipaddress.ip_address("127.0.0.1"))
            target = push_target(pinned.url, key, str(tls.ca))
            options = [a for k, v in {**target.options, **pinned.options}.items() for a in (f"-{k}", v)]
            argv = [worker_ffmpeg_env()["STREAMOPS_FFMPEG"], "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
                    "-stream_loop", "-1", "-i", str(clip), "-c", "copy", "-f", "flv",
                    "-protocol_whitelist", target.whitelist, *options, target.url]  # fmt: skip
            return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        wrong = push("other.test", "wrong-KEY")
        _, errors = wrong.communicate(timeout=20)
        assert wrong.returncode != 0 and b"does not match hostname other.test" in errors, errors
        right = push(tls.NAME, "pinned-KEY")
        try:
            wait_for(lambda: nginx.publishing() == {"pinned-KEY"}, timeout=15, what="the pinned publish")
        finally:
            right.terminate()
            right.wait(timeout=10)
        assert tls.server_names == ["other.test", tls.NAME], "SNI names the host, not the address"


# --- 2. SRT -----------------------------------------------------------------------------------------------


def _libsrt() -> ctypes.CDLL:
    names = [ctypes.util.find_library(n) for n in ("srt-gnutls", "srt-openssl", "srt")]
    for name in [*names, "libsrt-gnutls.so.1.5", "libsrt-openssl.so.1.5", "libsrt.so.1.5"]:
        if name:
            with contextlib.suppress(OSError):
                return ctypes.CDLL(name)
    raise RuntimeError("libsrt not found (Debian: libsrt1.5-gnutls, pulled in by srt-tools)")


class SrtReceiver:
    """An SRT listener on 127.0.0.1 in this process (libsrt through ctypes), so the test sees what
    srt-live-transmit does not show: the caller's stream id, and each message as it arrives."""

    SRTO_RCVTIMEO, SRTO_LATENCY, SRTO_STREAMID, SRT_EASYNCRCV = 14, 23, 46, 6003

    def __init__(self, output: Path, on_data: Callable[[bytes, float], None] | None = None) -> None:
        self.lib = _libsrt()
        self.output, self.on_data = output, on_data
        self.port = free_port("udp")
        self.stream_ids: list[bytes] = []
        self.received = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"srt://127.0.0.1:{self.port}?mode=caller"

    def __enter__(self) -> SrtReceiver:
        lib = self.lib
        lib.srt_startup()
        self.sock = lib.srt_create_socket()
        # No receive buffering (SRT's default is 120 ms), so what is measured is the pusher's own delay.
        zero = ctypes.c_int(0)
        lib.srt_setsockflag(self.sock, self.SRTO_LATENCY, ctypes.byref(zero), ctypes.sizeof(zero))
        addr = struct.pack("=H", socket.AF_INET) + struct.pack("!H", self.port) + socket.inet_aton("127.0.0.1")
        addr += bytes(8)
        if lib.srt_bind(self.sock, addr, len(addr)) != 0 or lib.srt_listen(self.sock, 4) != 0:
            lib.srt_close(self.sock)
            raise RuntimeError(f"SRT listener cannot bind udp 127.0.0.1:{self.port}")
        self._thread.start()
        return self

    def _serve(self) -> None:
        lib = self.lib
        buf = ctypes.create_string_buffer(1500)
        timeout = ctypes.c_int(200)
        with self.output.open("ab") as out:
            while not self._closing.is_set():
                conn = lib.srt_accept(self.sock, None, None)  # returns -1 once the listener is closed
                if conn < 0:
                    return
                sid, length = ctypes.create_string_buffer(600), ctypes.c_int(600)
                lib.srt_getsockflag(conn, self.SRTO_STREAMID, sid, ctypes.byref(length))
                self.stream_ids.append(sid.raw[: length.value])
                lib.srt_setsockflag(conn, self.SRTO_RCVTIMEO, ctypes.byref(timeout), ctypes.sizeof(timeout))
                while not self._closing.is_set():
                    n = lib.srt_recvmsg(conn, buf, len(buf))
                    if n < 0:
                        if lib.srt_getlasterror(None) == self.SRT_EASYNCRCV:
                            continue  # nothing within 200 ms: look at _closing again
                        break  # the caller went away
                    data = buf.raw[:n]
                    if self.on_data:
                        self.on_data(data, time.monotonic())
                    out.write(data)
                    out.flush()
                    self.received += n
                lib.srt_close(conn)

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self.lib.srt_close(self.sock)
        self._thread.join(5)
        self.lib.srt_cleanup()


class FrameClock:
    """When each video frame (by the hash of its H.264 bytes, which `-c copy` keeps) starts to
    arrive in an MPEG-TS byte stream: the same frame seen at two places gives the delay between."""

    def __init__(self) -> None:
        self.first_seen: dict[bytes, float] = {}
        self._head = b""
        self._video_pid: int | None = None
        self._pending = b""
        self._pes: bytearray | None = None
        self._pes_at = 0.0
        self.lock = threading.Lock()

    def feed(self, data: bytes, at: float) -> None:
        with self.lock:
            if self._video_pid is None:
                self._head += data
                streams = program_streams(self._head)
                if streams is None:
                    return
                self._video_pid = next(pid for stream_type, pid in streams if stream_type == 0x1B)
                data, self._head = self._head, b""
            data = self._pending + data
            usable = len(data) - len(data) % 188
            self._pending = data[usable:]
            start = data.find(b"\x47")
            for offset in range(max(start, 0), usable - 187, 188):
                self._packet(data[offset : offset + 188], at)

    def _packet(self, pkt: bytes, at: float) -> None:
        if packet_pid(pkt) != self._video_pid or not pkt[3] & 0x10:
            return
        data = payload(pkt)
        if payload_start(pkt):  # a new PES: the previous frame is complete
            if self._pes is not None and len(self._pes) > 9:
                frame = bytes(self._pes[9 + self._pes[8] :])
                self.first_seen.setdefault(hashlib.blake2b(frame, digest_size=16).digest(), self._pes_at)
            self._pes, self._pes_at = bytearray(data), at
        elif self._pes is not None:
            self._pes += data


def read_into(url: str, clock: FrameClock, stop: threading.Event) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, headers=WORKER_AUTH), timeout=5) as resp:
        while not stop.is_set() and (chunk := resp.read1(65536)):
            clock.feed(chunk, time.monotonic())


def test_pushes_to_an_srt_listener_in_caller_mode_with_the_key_as_stream_id(live_feed, pushers, tmp_path):
    key = "sk#1&x=y/ü+%41?"  # everything a URL query would mangle
    at_feed, at_target, stop = FrameClock(), FrameClock(), threading.Event()
    tap = threading.Thread(target=read_into, args=(live_feed.url, at_feed, stop), daemon=True)
    with SrtReceiver(tmp_path / "srt-received.ts", on_data=at_target.feed) as target:
        tap.start()
        try:
            pusher = pushers("to-srt", live_feed.url, target.url, key)
            status = pusher.wait_live()
            assert status["target"] == target.url and status["reconnects"] == 0
            time.sleep(6)
        finally:
            stop.set()
        assert target.stream_ids == [key.encode()], "the target gets the key byte for byte as the SRT stream id"
        assert pusher.status()["live"]
        received = codecs(ffprobe_streams(target.output))
        assert received["video"] == ("h264", 1280, 720) and received["audio"][0] == "aac"
        assert key not in pusher.texts() and "-args_file" in pusher.ffmpeg_command_line()
    tap.join(5)

    # Latency of the push hop: the same frames as this test's own feed reader sees them vs as
    # the SRT target receives them (steady state: after the start-up burst of the GOP cache).
    delays = [at_target.first_seen[h] - t for h, t in at_feed.first_seen.items() if h in at_target.first_seen]
    assert len(delays) > 100, f"only {len(delays)} frames matched between the feed and the target"
    steady = sorted(delays[len(delays) // 3 :])
    median, p90 = statistics.median(steady), steady[int(len(steady) * 0.9)]
    print(
        f"\nMEASURED push hop feed -> SRT target (SRT latency 0; a real target adds its own, 120 ms by default): "
        f"median {median * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms over {len(steady)} frames"
    )
    assert median < 1.0


# --- 3. a dead target ---------------------------------------------------------------------------------------


def test_a_dead_target_backs_off_and_resumes_while_the_stream_and_other_targets_carry_on(live_feed, pushers, tmp_path):
    key_a, key_b = "dead-target-KEY-a1", "healthy-target-KEY-b2"
    session = live_feed.status()["startedAt"]
    with NginxRtmp(workdir=tmp_path / "nginx-a") as a, NginxRtmp(workdir=tmp_path / "nginx-b") as b:
        # to-a's backoff capped at 2 s (SHORT_BACKOFF): it fails and retries over and over within
        # seconds, each retry a chance for the stream or to-b to notice.
        to_a = pushers("to-a", live_feed.url, a.app_url(), key_a, backoff=SHORT_BACKOFF)
        to_b = pushers("to-b", live_feed.url, b.app_url(), key_b)
        to_a.wait_live()
        to_b.wait_live()

        a.stop()  # the target dies
        down_at = time.monotonic()
        states, last_b, b_grew_at = set(), to_b.status()["bytesSent"], down_at
        sa: dict[str, Any] = {"failures": 0, "reconnects": 0}
        # Watched each second, for 8 s and until to-a has backed off and failed (and reconnected)
        # three times: two of each were asserted over 20 s with the default 10 s cap.
        while time.monotonic() - down_at < 8 or min(sa["failures"], sa["reconnects"]) < 3 or "backoff" not in states:
            assert time.monotonic() - down_at < 40, ("to-a never failed three times", sa, states)
            time.sleep(1)
            sa, sb = to_a.status(), to_b.status()
            states.add(sa["state"])
            assert not sa["live"] or time.monotonic() - down_at < 3
            # to-b's bytes are judged over a few seconds, not each second: the synthetic source
            # itself can stall for ~2 s on a loaded machine (CI of stops 42 and 43), and then
            # every target rightly sends nothing for that second.
            if sb["bytesSent"] > last_b:
                last_b, b_grew_at = sb["bytesSent"], time.monotonic()
            assert sb["live"] and time.monotonic() - b_grew_at < 5, "the other target never notices"
            assert sb["reconnects"] == 0
            # The stream's session goes on. Not `live` at each sample: that is the publisher's media
            # arriving within feed.SILENCE_SECONDS, which a loaded machine's encoder can miss (CI of
            # stop 42: a 2 s stall of the synthetic libx264 source while to-b still sent bytes).
            now = live_feed.status()
            assert now["startedAt"] == session and now["finishedAt"] is None, "the stream never notices"
        assert wait_for(lambda: live_feed.status()["live"], timeout=10), "the stream is live throughout"
        failed = to_a.status()
        assert failed["reconnects"] >= 3 and failed["failures"] >= 3 and "backoff" in states, failed
        assert failed["failingSince"], failed
        assert "Connection refused" in failed["lastError"] and "***" in failed["lastError"], failed["lastError"]
        assert key_a not in failed["lastError"]

        with NginxRtmp(workdir=tmp_path / "nginx-a", rtmp_port=a.rtmp_port, http_port=a.http_port) as a_again:
            back_at = time.monotonic()
            to_a.wait_live(timeout=SHORT_BACKOFF_CAP + 10)
            resumed = time.monotonic() - back_at
            print(
                f"\nMEASURED resumed {resumed:.1f} s after the target came back (backoff cap {SHORT_BACKOFF_CAP:g} s)"
            )
            assert resumed <= SHORT_BACKOFF_CAP + 8, "within the backoff cap (+ one connect: feed probe and handshake)"
            assert a_again.publishing() == {key_a}
        assert to_b.status()["live"] and to_b.status()["reconnects"] == 0
        assert to_a.status()["failures"] >= 3, "the streak lasts until the link stays up resetAfterSeconds"
        assert live_feed.publisher is not None and live_feed.publisher.running
        assert key_a not in to_a.texts() and key_b not in to_b.texts()


# --- a frozen target ----------------------------------------------------------------------------------------


def test_a_frozen_target_times_out_instead_of_hanging(live_feed, pushers):
    """A target that accepts the connection and then never answers (a hung server)."""
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(8)  # the kernel completes the TCP handshake; nobody ever reads
        uri = f"rtmp://127.0.0.1:{blackhole.getsockname()[1]}/live"
        started = time.monotonic()
        pusher = pushers("to-frozen", live_feed.url, uri, "frozen-KEY-0042")
        failed = wait_for(lambda: (s := pusher.status())["failures"] >= 1 and s, timeout=20)
        print(f"\nMEASURED frozen target given up after {time.monotonic() - started:.1f} s")
        assert "timed out" in failed["lastError"].lower() and not failed["live"], failed
        assert "frozen-KEY-0042" not in pusher.texts()


def first_not_live(pusher: Any, timeout: float = 30) -> dict[str, Any]:
    """The first status in which the pusher no longer reports live."""

    def not_live() -> dict[str, Any] | None:
        status: dict[str, Any] = pusher.status()
        return None if status["live"] else status

    return wait_for(not_live, timeout=timeout, interval=0.05, what="live turns false")


def not_live_after(pusher: Any, since: float, timeout: float = 30) -> float:
    """Seconds from `since` until the pusher no longer reports live."""
    first_not_live(pusher, timeout)
    return time.monotonic() - since


def test_a_target_that_stops_reading_is_not_live_within_seconds(live_feed, nginx, pushers):
    """nginx-rtmp SIGSTOPped mid-stream: its kernel still takes what fits in its receive buffer, and
    FFmpeg's writes go on into its send buffer for ≈6 s more; `live` follows what the target read
    (its receive window's edge), so it turns false ≈2 s (the live window) after the freeze. What
    must hold whatever the load: `live` turns false while the link is still up (no failure yet:
    the watchdog gives up only stallSeconds after the target last read, the live window is 2 s)."""
    key = "frozen-reader-KEY-77"
    pusher = pushers("to-stopped-nginx", live_feed.url, nginx.app_url(), key, stallSeconds=STALL)
    pusher.wait_live()
    time.sleep(3)  # steady state, past the GOP-cache burst
    with nginx.frozen() as frozen_at:
        first = first_not_live(pusher)
        took = time.monotonic() - frozen_at
        print(f"\nMEASURED rtmp target SIGSTOPped: pusher live -> false after {took:.1f} s")
        assert first["failures"] == 0 and first["state"] != "backoff", (
            "live turned false only when the link failed, not when the target stopped acknowledging",
            first,
        )
        assert first["state"] != "live"
        failed = wait_for(lambda: (s := pusher.status())["failures"] >= 1 and s, timeout=30, what="a failure")
        print(f"MEASURED frozen rtmp target given up after {time.monotonic() - frozen_at:.1f} s")
        assert "stopped taking data" in failed["lastError"] or "timed out" in failed["lastError"].lower(), failed
    back = pusher.wait_live(timeout=BACKOFF_CAP + 20)  # thawed: the target takes the stream again
    assert back["reconnects"] >= 1 and nginx.publishing() == {key}
    assert key not in pusher.texts()


def acknowledged_from(port: int) -> int:
    """Bytes the kernel of this test process's listener on `port` acknowledged to its clients
    (the client sockets' bytes_acked, read from the host's socket table)."""
    return sum(s.bytes_acked or 0 for s in established_tcp((socket.AF_INET,)) if s.peer == ("127.0.0.1", port))


def test_a_target_that_stops_reading_behind_a_big_receive_buffer_is_not_live_within_seconds(
    live_feed, nginx, pushers, tmp_path
):
    """What acknowledgements alone missed (a CI run under load: nginx-rtmp SIGSTOPped, its
    autotuned receive buffer acknowledged the push for over 30 s): a target whose 8 MiB receive
    buffer goes on taking ≈20 s of a 2.5 Mbit/s push after it stopped reading. `live` turns false
    while its kernel still acknowledges, and the link is given up before the buffer is full."""
    key = "big-buffer-KEY-19"
    with TcpForwarder(nginx.rtmp_port, tmp_path / "relay", receive_buffer=4 << 20) as target:
        pusher = pushers("to-big-buffer", live_feed.url, target.url(), key)
        pusher.wait_live()
        time.sleep(3)  # steady state, past the GOP-cache burst
        with target.frozen() as frozen_at:
            first = first_not_live(pusher)
            took = time.monotonic() - frozen_at
            acked = acknowledged_from(target.port)
            # 3 s, not 1: the synthetic source can stall ~2 s on a loaded machine, and then nothing is
            # sent to acknowledge (CI, 2026-11-27: live false after 2.5 s, 0 kB in the next 1 s).
            time.sleep(3)
            more = acknowledged_from(target.port) - acked
            print(f"\nMEASURED 8 MiB-buffer target stopped reading: live -> false after {took:.1f} s, "
                  f"its kernel still acknowledged {more / 1e3:.0f} kB in the next 3 s")  # fmt: skip
            assert more > 0, "live turned false only once the target's buffer was full: acknowledgements, not reads"
            assert first["failures"] == 0 and first["state"] != "live", first
            failed = wait_for(lambda: (s := pusher.status())["failures"] >= 1 and s, timeout=30, what="a failure")
            print(f"MEASURED given up after {time.monotonic() - frozen_at:.1f} s")
            assert "stopped taking data" in failed["lastError"], failed
        back = pusher.wait_live(timeout=BACKOFF_CAP + 20)  # reading again: the target takes the stream
        assert back["reconnects"] >= 1 and nginx.publishing() == {key}
    assert key not in pusher.texts()


def test_an_srt_target_that_stops_reading_is_not_live_within_seconds(live_feed, pushers, tmp_path):
    """srt-live-transmit SIGSTOPped: UDP, so no acknowledgement counters; libsrt ends the link by
    itself (peer idle timeout, 5 s) and FFmpeg fails."""
    with SrtListener(tmp_path / "srt.ts", log_path=tmp_path / "srt.log") as target:
        pusher = pushers("to-stopped-srt", live_feed.url, target.url)
        pusher.wait_live()
        time.sleep(3)
        with target.frozen() as frozen_at:
            # libsrt's peer idle timeout is 5 s (measured 5.2 s to live false); 15 s leaves room for load
            took = not_live_after(pusher, frozen_at, timeout=15)
            print(f"\nMEASURED srt target SIGSTOPped: pusher live -> false after {took:.1f} s")
            wait_for(lambda: pusher.status()["failures"] >= 1, timeout=30, what="a failure")
        wait_for(lambda: pusher.status()["live"] or not target.running, timeout=BACKOFF_CAP + 20, what="live")
        if not target.running:
            # srt-live-transmit 1.5.1 itself sometimes exits (255, "recvmsg: Connection was broken")
            # when, thawed, it finds the link broken: 1 run in 48 here under load. The target comes
            # back as one restarted on its port; the pusher, retrying, must take it.
            target.restart()
        back = pusher.wait_live(timeout=BACKOFF_CAP + 20)
        assert back["reconnects"] >= 1


def test_an_ingest_restart_is_counted_as_a_reconnect_not_a_failure(feed, nginx, pushers):
    key = "ingest-restart-KEY-31"
    feed.publish()
    pusher = pushers("across-ingest-restart", feed.url, nginx.app_url(), key)
    assert pusher.wait_live()["reconnects"] == 0
    feed.ingest.stop()  # the ingest Pod restarts: the feed and the publisher's connection drop
    feed.unpublish()
    wait_for(lambda: not pusher.status()["live"], timeout=15, what="pusher not live without its feed")
    feed.ingest.start()
    feed.publish()  # the encoder reconnects
    back = pusher.wait_live(timeout=30)
    assert back["reconnects"] == 1, "the target saw a new publish: one reconnect"
    assert back["failures"] == 0 and back["lastError"] is None, back
    assert nginx.publishing() == {key}


# --- noAudioMode ------------------------------------------------------------------------------------------------


def test_no_audio_mode_silence_adds_a_silent_track_and_drop_forwards_as_is(feed, nginx, pushers):
    feed.publish(audio=False)
    silence = pushers("silence", feed.url, nginx.app_url(), "with-silence", noAudioMode="silence")
    drop = pushers("drop", feed.url, nginx.app_url(), "as-is", noAudioMode="drop")
    silence.wait_live()
    drop.wait_live()
    with_silence, as_is = probe_at_once(nginx.rtmp_url(name="with-silence"), nginx.rtmp_url(name="as-is"))
    assert with_silence["video"] == as_is["video"] == ("h264", 1280, 720)
    assert with_silence["audio"][0] == "aac"
    assert "audio" not in as_is

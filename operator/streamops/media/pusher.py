"""The pusher worker: forwards a stream's live feed as is (`-c copy`) to one RTMP(S)/SRT target.

    streamops worker push        (config: env STREAMOPS_PUSHER_CONFIG or --config FILE, JSON)

One FFmpeg per connection, reading its own connection to the ingest's feed, so a failing target
never touches the ingest or the other pushers. The loop:

    waiting-for-source --feed answers 200--> connecting --bytes reach the target--> live
    live/connecting --FFmpeg exits 0 (the feed ended)--> waiting-for-source   (no penalty)
    live/connecting --target refused/failed/stalled--> backoff --delay--> waiting-for-source

The stream key (a mounted Secret file) is read again at every connect and handed to FFmpeg only:
its command line and output are redacted before they reach the log, /status or lastError.

`reconnects` counts every new connection to the target after the first, whatever made the
previous one end (the target failed, the publisher or the ingest restarted): each is a new publish
on the target. It is counted when FFmpeg has opened the feed (its "Input #0" line), right before it
connects to the target; a run that could not open the feed never reached the target. A failure
streak (`failures`, `failingSince`) is what backoff counts: target failures since the link last
stayed up for `backoff.resetAfterSeconds`; the operator turns it into one aggregated Event.

"Live" means the target took bytes in the last LIVE_WINDOW_SECONDS. For rtmp(s) that is what the
target's TCP stack says (media/tcp_info.py), not what FFmpeg wrote: measured with nginx-rtmp
SIGSTOPped under a 2.5 Mbit/s push on loopback, FFmpeg's `total_size` kept growing ≈6 s after its
acknowledgements stopped (into its own send buffer). Acknowledgements stop only when the target's
receive buffer is full, ≈1.5 s with its usual ≈470 KB but over 30 s once autotuning had grown it
under load, so the target's application counts as reading while its receive window's right edge
moves (`target_read`). SRT targets (UDP) fall back to what FFmpeg wrote.

Facts measured on Debian's FFmpeg 5.1 that shape the command:
- `-rw_timeout` on an rtmp output makes a frozen target (accepts TCP, never answers, or stops
  reading) fail with "Connection timed out"; a frozen SRT peer fails by itself within ≈5 s.
- A target that stops reading blocks FFmpeg's writes only once the socket buffers are full (≈9 s
  of a 4.4 Mbit/s stream on loopback); FFmpeg then waits on the trailer and the close for two more
  timeouts (≈24 s in all), so the watchdog here kills it once nothing reached the target for
  STALL_SECONDS.
- libsrt does not percent-decode `streamid=` in the URL (it sends "%23" as is, and turns "+" into
  a space); its `-srt_streamid` option carries any key byte for byte, so the key goes there.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ffmpeg as ffmpeg_python

from streamops.api.common import PUSH_TARGET_SCHEMES
from streamops.contract.pusher import (
    CONFIG_ENV,
    PUSHER_STATES,
    BackoffPolicy,
    PusherConfig,
    PusherState,
    PusherStatus,
)
from streamops.media.ffmpeg import RW_TIMEOUT_US, FfmpegProcess, Progress, UnsafeUri, command
from streamops.media.ffmpeg import protocol_whitelist as whitelist_for
from streamops.media.mpegts import AUDIO_STREAM_TYPES, program_stream_types
from streamops.media.small_http import METRICS_CONTENT_TYPE, Reply, serve, worker_routes
from streamops.media.tcp_info import TcpCounters, process_tcp, socket_counters
from streamops.media.worker_process import utc_now, worker_main
from streamops.redaction import Redactor

log = logging.getLogger("streamops.pusher")

FEED_PROTOCOLS = "http,tcp"  # the feed is plain HTTP inside the cluster: no hls, no proxy, no file
FORMAT_BY_SCHEME = {"rtmp": "flv", "rtmps": "flv", "srt": "mpegts"}
# The feed starts with PAT/PMT and a keyframe: 2 s is enough to see every track, and the probed
# packets are flushed at once afterwards, so it delays the start, not the stream.
ANALYZE_US = 2_000_000
SILENT_AUDIO = "anullsrc=channel_layout=stereo:sample_rate=48000"
LIVE_WINDOW_SECONDS = 2.0  # "live": bytes reached the target this recently
STALL_SECONDS = 8.0  # live link with no byte reaching the target for this long: it froze (see module doc)
CONNECT_SECONDS = 20.0  # no byte out this long after start: give up (probe 2 s + connect 5 s + slack)
FEED_POLL_SECONDS = 1.0
FEED_PROBE_TIMEOUT_SECONDS = 5.0  # connect, answer and the PMT (it comes first)
FEED_PROBE_BYTES = 256 * 1024  # PAT and PMT come first; give up on a feed that shows neither by then
MAX_KEY_LENGTH = {"rtmp": 1024, "rtmps": 1024, "srt": 512}  # SRT_STREAMID is at most 512 bytes
TCP_SCHEMES = ("rtmp", "rtmps")  # targets whose delivery the kernel's TCP counters show
FEED_OPENED = "Input #0"  # FFmpeg's dump of the opened feed: it connects to the target next


# --- pure decisions ------------------------------------------------------------------------------


class StreamKeyError(ValueError):
    """The stream key file is missing, empty or holds something that cannot be a key."""


def read_stream_key(path: str) -> str:
    """The key from a mounted Secret file (trailing newline stripped). Errors never quote it."""
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise StreamKeyError(f"cannot read the stream key file {path}: {type(e).__name__}") from None
    if not key:
        raise StreamKeyError(f"the stream key file {path} is empty")
    return key


def check_stream_key(key: str, scheme: str) -> str:
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise StreamKeyError("the stream key contains whitespace or control characters")
    if len(key.encode()) > MAX_KEY_LENGTH[scheme]:
        raise StreamKeyError(f"the stream key is longer than {MAX_KEY_LENGTH[scheme]} bytes")
    return key


@dataclass(frozen=True)
class PushTarget:
    """Where FFmpeg pushes: the URL, the per-output options that carry the key, the muxer."""

    url: str
    options: dict[str, str]
    format: str
    whitelist: str


def push_target(uri: str, key: str | None) -> PushTarget:
    """The target with the key appended: rtmp(s) → `<uri>/<key>` (the stream name, query and all,
    as platforms hand it out), srt → the SRT stream id (sent byte for byte, see module doc).
    Refuses (UnsafeUri) anything FFmpeg must not open, before it runs."""
    whitelist = whitelist_for(uri, PUSH_TARGET_SCHEMES)
    scheme = uri.split("://", 1)[0]
    options: dict[str, str] = {}
    url = uri
    if key is not None:
        check_stream_key(key, scheme)
        if scheme == "srt":
            options["srt_streamid"] = key
        else:
            base, sep, query = uri.partition("?")  # an app-level query stays at the end
            url = f"{base.rstrip('/')}/{key}{sep}{query}"
            whitelist_for(url, PUSH_TARGET_SCHEMES)  # the key must not turn it into something else
    return PushTarget(url=url, options=options, format=FORMAT_BY_SCHEME[scheme], whitelist=whitelist)


def push_command(feed_url: str, target: PushTarget, add_silence: bool) -> list[str]:
    """FFmpeg: the feed (HTTP only, `-rw_timeout` so a frozen feed ends the run) copied to the target
    (its own protocol allow-list and `-rw_timeout`). add_silence: a silent AAC track stands in for
    the missing audio (the only thing ever encoded)."""
    whitelist_for(feed_url, ("http",))
    feed = ffmpeg_python.input(
        feed_url,
        f="mpegts",
        protocol_whitelist=FEED_PROTOCOLS,
        rw_timeout=RW_TIMEOUT_US,
        analyzeduration=ANALYZE_US,
        thread_queue_size=512,  # with the silence input it is read in a thread: room for the first burst
    )
    out_opts: dict[str, Any] = {
        "f": target.format,
        "protocol_whitelist": target.whitelist,
        "rw_timeout": RW_TIMEOUT_US,
        **target.options,
    }
    if target.format == "flv":
        out_opts["flvflags"] = "no_duration_filesize"  # live: no seek back to patch the header
    else:
        out_opts["pes_payload_size"] = 0  # MPEG-TS: one PES per audio frame, no ≈180 ms audio batching
    if add_silence:
        silence = ffmpeg_python.input(SILENT_AUDIO, f="lavfi")
        streams = [feed["v:0"], silence["a:0"]]
        out_opts.update({"c:v": "copy", "c:a": "aac", "b:a": "96k", "shortest": None})
    else:
        streams = [feed["v:0?"], feed["a:0?"]]  # FLV carries one of each; extra tracks are dropped
        out_opts["c"] = "copy"
    graph = ffmpeg_python.output(*streams, target.url, **out_opts)
    return command(graph)


def backoff_delay(attempt: int, initial: float, cap: float, u: float) -> float:
    """Full jitter: uniform in [0, min(cap, initial·2^attempt)]; u is a uniform draw in [0, 1]."""
    ceiling = cap if attempt >= 64 else min(cap, initial * math.pow(2, attempt))
    return max(0.0, min(u, 1.0)) * ceiling


class Backoff:
    """The failure streak behind backoff_delay: failures since the link last stayed up long enough
    (`attempt`), and when the streak began (`failing_since`)."""

    def __init__(self, policy: BackoffPolicy, rand: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self.rand = rand
        self.attempt = 0
        self.failing_since: datetime | None = None

    def link_was_up(self, seconds: float) -> None:
        if seconds >= self.policy.reset_after_seconds:
            self.attempt = 0
            self.failing_since = None

    def next_delay(self, at: datetime | None = None) -> float:
        """One more failure (at `at`, which starts the streak if it is the first): the delay before the next try."""
        if self.attempt == 0:
            self.failing_since = at
        delay = backoff_delay(self.attempt, self.policy.initial_seconds, self.policy.max_seconds, self.rand())
        self.attempt += 1
        return delay


class Outcome(enum.Enum):
    SOURCE_ENDED = "source-ended"  # FFmpeg exited 0: the feed ended (publisher gone)
    SOURCE_UNAVAILABLE = "source-unavailable"  # the feed could not be opened (503, refused)
    TARGET_FAILED = "target-failed"
    STOPPED = "stopped"  # we were asked to stop


def classify_exit(returncode: int, lines: Iterable[str], feed_url: str) -> Outcome:
    """Why a run ended. FFmpeg exits 0 when its input ends; input errors are printed prefixed
    with the input URL; everything else that fails is the output (the target)."""
    if returncode == 0:
        return Outcome.SOURCE_ENDED
    if any(line.startswith(f"{feed_url}:") for line in lines):
        return Outcome.SOURCE_UNAVAILABLE
    return Outcome.TARGET_FAILED


_NOISE = ("Conversion failed!", "Last message repeated", "Exiting normally")
_ERROR_WORDS = ("error", "failed", "refused", "timed out", "broken pipe", "reset", "invalid", "not found", "denied")


def telling_error(lines: Sequence[str], target_uri: str, returncode: int) -> str:
    """The line of FFmpeg's (redacted) output that says what went wrong: the first error about the
    target, else the first error at all (the cause, not the "Conversion failed!" that follows)."""
    useful = [line for line in lines if not any(n in line for n in _NOISE)]
    errors = [line for line in useful if any(w in line.lower() for w in _ERROR_WORDS)]
    about_target = [line for line in errors if target_uri.rstrip("/") in line]
    if about_target or errors:
        return (about_target or errors)[0]
    return useful[-1] if useful else f"ffmpeg exited with code {returncode}"


def needs_silence(mode: str, stream_types: Sequence[int] | None) -> bool:
    """silence mode adds a silent track only to a feed known to have none (unknown: forward as is)."""
    return mode == "silence" and stream_types is not None and not AUDIO_STREAM_TYPES.intersection(stream_types)


def watchdog(started: float, first_byte: float | None, last_byte: float | None, now: float) -> str | None:
    """Why a running FFmpeg must be killed as a target failure, or None: nothing reached the target
    in CONNECT_SECONDS, or a live link sent nothing for STALL_SECONDS (monotonic seconds)."""
    if first_byte is None:
        return f"no data reached the target within {CONNECT_SECONDS:g} s" if now - started > CONNECT_SECONDS else None
    if last_byte is not None and now - last_byte > STALL_SECONDS:
        return f"the target stopped taking data for {STALL_SECONDS:g} s"
    return None


def is_live(last_byte_at: float | None, now: float, window: float = LIVE_WINDOW_SECONDS) -> bool:
    return last_byte_at is not None and now - last_byte_at <= window


def target_socket(sockets: Sequence[TcpCounters]) -> TcpCounters | None:
    """The target's socket among a push FFmpeg's (an rtmp(s) target): the one that acknowledged the
    most (the feed's carries only our HTTP request, ≈200 bytes, the target's the RTMP handshake,
    3 kB, then the media). None: nothing known."""
    known = [s for s in sockets if s.bytes_acked is not None]
    return max(known, key=lambda s: s.bytes_acked or 0) if known else None


def target_read(acked: int, edge: int | None) -> bool:
    """Whether the target took data between two samples of its socket: `acked` more bytes
    acknowledged by its kernel, the right edge of its receive window `edge` bytes further (None:
    the kernel does not report the window). Acknowledgements alone hold only until the target's
    receive buffer is full, and an autotuned buffer grows to tens of MB (tcp_rmem here allows
    32 MiB): in a CI run under load a SIGSTOPped nginx-rtmp went on acknowledging a 2.5 Mbit/s
    push for more than 30 s. Its window's edge holds when its application stops reading (it moved
    by 2-5 % of the acknowledged bytes, measured on loopback), so the target read when the edge
    moved by at least a quarter of what was acknowledged; a window reopening with nothing new
    acknowledged is a read too."""
    if edge is None:
        return acked > 0
    return edge > 0 and 4 * edge >= acked


class TargetSocket:
    """The target's socket of one FFmpeg run, read every watchdog tick. Found in a dump of the
    process's sockets (the one that acknowledged the most, once media was written: before that it
    could be the feed's), then read by an exact lookup: a dump walks every TCP socket of the network
    namespace, and on a host-network node or in bench-media (50 pushers) that was 87 % of a pusher's
    Python CPU (py-spy)."""

    def __init__(self) -> None:
        self.known: TcpCounters | None = None

    def read(self, pid: int, wrote_media: bool) -> TcpCounters | None:
        if self.known is not None:
            if (now := socket_counters(self.known)) is not None:
                return now
            self.known = None  # closed: look again
        best = target_socket(process_tcp(pid))
        if wrote_media and best is not None and best.bytes_acked:
            self.known = best
        return best


class Delivery:
    """When bytes reached the target during one run (monotonic seconds): read by the target (its
    acknowledgements and receive window, `target_read`) once the kernel reported any counter for
    it, else written by FFmpeg (see module doc)."""

    def __init__(self) -> None:
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.by_acks = False
        self._acked = 0
        self._edge: int | None = None  # of the socket `_inode`: another socket's edge is no baseline
        self._inode: int | None = None

    def written(self, now: float) -> None:
        if not self.by_acks:
            self._reached(now)

    def sampled(self, target: TcpCounters | None, now: float, wrote_media: bool) -> None:
        """A sample of the target's socket (None: no TCP socket seen). It counts once FFmpeg wrote
        media: the RTMP handshake alone is not the stream."""
        if target is None or target.bytes_acked is None:
            return
        self.by_acks = True
        if target.inode != self._inode:
            self._edge, self._inode = None, target.inode
        acked, edge = target.bytes_acked, target.window_edge
        moved = None if edge is None or self._edge is None else edge - self._edge
        if wrote_media and target_read(acked - self._acked, moved):
            self._reached(now)
        self._acked = max(self._acked, acked)
        if edge is not None:
            self._edge = max(self._edge or 0, edge)

    def _reached(self, now: float) -> None:
        if self.first_at is None:
            self.first_at = now
        self.last_at = now

    def uptime(self) -> float:
        return self.last_at - self.first_at if self.first_at is not None and self.last_at is not None else 0.0


async def probe_feed(url: str) -> tuple[bool, list[int] | None]:
    """GET the feed: (it answered 200 with media, its track types from the PMT once they show).

    HTTP/1.0 on a bare connection rather than aiohttp's client (≈13 MiB of RSS in every pusher):
    an HTTP/1.0 answer is neither chunked nor kept alive, so the body is the bytes up to the close.
    Raises OSError/TimeoutError when the ingest cannot be reached."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        writer.write(f"GET {path or '/'} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        fields = head.split(b" ", 2)
        if len(fields) < 2 or fields[1] != b"200":
            return False, None
        data, types = b"", None
        while len(data) < FEED_PROBE_BYTES and (chunk := await reader.read(64 * 1024)):
            data += chunk
            types = program_stream_types(data)
            if types is not None:
                break
        return bool(data), types
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return False, None
    finally:
        writer.close()


def pusher_metrics(
    restream: str, live: bool, bytes_sent: int, reconnects: int, failures: int, state: PusherState
) -> bytes:
    """/metrics in Prometheus' text format, made from the pusher's own counters when asked: what
    prometheus-client wrote for these five metrics, without its ≈4 MiB per pusher process (issue 15)."""
    label = 'restream="' + restream.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    lines: list[str] = []

    def metric(name: str, kind: str, text: str, samples: list[tuple[str, float]]) -> None:
        name += "_total" if kind == "counter" else ""  # the family is named as its sample (0.0.4)
        lines.extend((f"# HELP {name} {text}", f"# TYPE {name} {kind}"))
        lines.extend(f"{name}{{{label}{extra}}} {float(value)!r}" for extra, value in samples)

    metric("streamops_pusher_live", "gauge", "1 while bytes reach the target", [("", 1.0 if live else 0.0)])
    metric("streamops_pusher_sent_bytes", "counter", "bytes pushed to the target", [("", bytes_sent)])
    metric(
        "streamops_pusher_reconnects", "counter", "new connections to the target after the first", [("", reconnects)]
    )
    metric("streamops_pusher_target_failures", "counter", "target failures", [("", failures)])
    states = [(f',streamops_pusher_state="{s}"', 1.0 if s == state else 0.0) for s in PUSHER_STATES]
    metric("streamops_pusher_state", "gauge", "pusher state", states)
    return ("\n".join(lines) + "\n").encode()


# --- the worker ----------------------------------------------------------------------------------


class Pusher:
    def __init__(self, config: PusherConfig, rand: Callable[[], float] = random.random) -> None:
        self.config = config
        self.redact = Redactor()
        self.backoff = Backoff(config.backoff, rand)
        self.stopping = asyncio.Event()
        self.state: PusherState = "waiting-for-source"
        self.bytes_sent = 0  # cumulative across runs
        self.reconnects = 0
        self.last_error: str | None = None
        self.started_at: datetime | None = None  # the current live period began
        self._attempts = 0  # connections to the target so far (see module doc)
        self._run_base = 0  # bytes_sent before the current run
        self._delivery = Delivery()
        self._target_socket = TargetSocket()
        self._tcp_target = config.uri.split("://", 1)[0] in TCP_SCHEMES
        self._proc: FfmpegProcess | None = None

        self.target_failures = 0  # every target failure since start (the metric; `failures` is the streak)

    # --- telemetry ---------------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        return self._proc is not None and self._proc.running and is_live(self._delivery.last_at, time.monotonic())

    def _set_state(self, state: PusherState) -> None:
        if state != self.state:
            log.info("%s: %s -> %s", self.config.name, self.state, state)
        self.state = state

    def status(self) -> PusherStatus:
        live = self.live
        state: PusherState = "live" if live else ("connecting" if self.state == "live" else self.state)
        return PusherStatus(
            live=live,
            state=state,
            started_at=self.started_at if live else None,
            bytes_sent=self.bytes_sent,
            reconnects=self.reconnects,
            failures=self.backoff.attempt,
            failing_since=self.backoff.failing_since,
            last_error=self.last_error,
            target=self.config.uri,
        )

    def metrics(self) -> Reply:
        return Reply(
            200,
            pusher_metrics(
                self.config.name, self.live, self.bytes_sent, self.reconnects, self.target_failures, self.state
            ),
            METRICS_CONTENT_TYPE,
        )

    def _on_progress(self, progress: Progress) -> None:
        total = self._run_base + progress.total_size
        if total > self.bytes_sent:
            self.bytes_sent = total
            self._delivery.written(time.monotonic())
            self._note_delivery()

    def _on_ffmpeg_line(self, line: str) -> None:
        if line.startswith(FEED_OPENED):
            if self._attempts:
                self.reconnects += 1
            self._attempts += 1

    def _sample_target(self, pid: int | None) -> None:
        """The target's TCP socket (rtmp, rtmps), read every watchdog tick."""
        if self._tcp_target and pid is not None:
            wrote_media = self.bytes_sent > self._run_base
            target = self._target_socket.read(pid, wrote_media)
            self._delivery.sampled(target, time.monotonic(), wrote_media=wrote_media)
            self._note_delivery()

    def _note_delivery(self) -> None:
        if self._delivery.first_at is not None and self.state != "live":
            self.started_at = utc_now()
            self._set_state("live")

    def _fail(self, message: str) -> None:
        self.last_error = self.redact(message)[:4096]
        self.target_failures += 1
        log.warning("%s: target failed: %s", self.config.name, self.last_error)

    # --- the loop ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """SIGTERM/SIGINT: stop pushing (FFmpeg ends cleanly) and the HTTP face."""
        self.stopping.set()

    async def run(self) -> None:
        cfg = self.config
        server = await serve(worker_routes(self.status, lambda: self.live, self.metrics), cfg.http_host, cfg.http_port)
        log.info("%s: pushing %s to %s", cfg.name, cfg.feed_url, cfg.uri)
        try:
            while not self.stopping.is_set():
                await self._cycle()
        finally:
            if self._proc is not None:
                await self._proc.stop(grace=2)
            await server.cleanup()

    async def _cycle(self) -> None:
        self._set_state("waiting-for-source")
        stream_types = await self._wait_for_feed()
        if self.stopping.is_set():
            return
        try:
            key = None
            if self.config.stream_key_file:
                key = read_stream_key(self.config.stream_key_file)
                self.redact.add(key)  # before anything can print it
            target = push_target(self.config.uri, key)
        except (StreamKeyError, UnsafeUri) as e:
            self._fail(str(e))
            await self._back_off(0.0)
            return
        outcome, uptime, error = await self._push_once(target, needs_silence(self.config.no_audio_mode, stream_types))
        self.started_at = None
        if outcome is Outcome.TARGET_FAILED:
            self._fail(error)
            await self._back_off(uptime)
        elif outcome is not Outcome.STOPPED:
            self.backoff.link_was_up(uptime)
            log.info("%s: %s", self.config.name, outcome.value)
            if outcome is Outcome.SOURCE_UNAVAILABLE:
                await self._sleep(FEED_POLL_SECONDS)

    async def _back_off(self, uptime: float) -> None:
        self.backoff.link_was_up(uptime)
        delay = self.backoff.next_delay(utc_now())
        self._set_state("backoff")
        log.info("%s: retrying in %.1f s", self.config.name, delay)
        await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def _wait_for_feed(self) -> list[int] | None:
        """Poll the feed until it answers 200; return its track types (PMT) when they show."""
        while not self.stopping.is_set():
            # Not up yet (refused, timed out): the ingest starts with us or restarts.
            with contextlib.suppress(TimeoutError, OSError, ValueError):
                async with asyncio.timeout(FEED_PROBE_TIMEOUT_SECONDS):
                    answered, types = await probe_feed(self.config.feed_url)
                if answered:
                    return types  # None: no PMT seen, the tracks are unknown
                # 200 and no byte: that session ended while we looked; wait for the next
            await self._sleep(FEED_POLL_SECONDS)
        return None

    async def _push_once(self, target: PushTarget, add_silence: bool) -> tuple[Outcome, float, str]:
        """One FFmpeg run; returns why it ended, how long the link was up, the (redacted) error."""
        self._set_state("connecting")
        argv = push_command(self.config.feed_url, target, add_silence)
        if add_silence:
            log.info("%s: the feed has no audio: adding a silent track", self.config.name)
        self._run_base = self.bytes_sent
        delivery = self._delivery = Delivery()
        self._target_socket = TargetSocket()
        proc = FfmpegProcess(
            "push", argv, self.redact, log, on_progress=self._on_progress, on_stderr=self._on_ffmpeg_line
        )
        self._proc = proc
        started = time.monotonic()
        killed_for: str | None = None
        await proc.start()
        assert proc.process is not None
        exited = asyncio.ensure_future(proc.process.wait())
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            while not exited.done():
                await asyncio.wait({exited, stop}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                if stop.done():
                    await proc.stop(grace=2)
                    return Outcome.STOPPED, 0.0, ""
                self._sample_target(proc.pid)
                now = time.monotonic()
                if self.live:  # a link that stays up ends the failure streak now, not when it drops
                    self.backoff.link_was_up(delivery.uptime())
                killed_for = watchdog(started, delivery.first_at, delivery.last_at, now)
                if killed_for:
                    await proc.stop(grace=0.5)  # SIGTERM alone would wait on the trailer
                    break
            rc = await proc.wait()
        finally:
            stop.cancel()
            if proc.running:
                await proc.stop(grace=0.5)
            self._proc = None
        if killed_for:
            return Outcome.TARGET_FAILED, delivery.uptime(), killed_for
        outcome = classify_exit(rc, proc.tail, self.config.feed_url)
        return outcome, delivery.uptime(), telling_error(list(proc.tail), self.config.uri, rc)


def main(argv: list[str] | None = None) -> int:
    what = "Forward the live feed as is to one target."
    return worker_main(argv, "push", CONFIG_ENV, PusherConfig.model_validate_json, Pusher, what)

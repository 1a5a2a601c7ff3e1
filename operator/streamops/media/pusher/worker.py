"""The pusher worker: forwards a stream's live feed as is (`-c copy`) to one RTMP(S)/SRT target, one
FFmpeg per connection (in a shared pusher, an rtmp(s) connection may be a run in its relay:
docs/design/shared-pusher.md), with backoff, a watchdog, `/status` and `/metrics`
(docs/design/restream-accounting.md).

    streamops worker push        (config: env STREAMOPS_PUSHER_CONFIG or --config FILE, JSON)

    waiting-for-source --feed answers 200--> connecting --bytes reach the target--> live
    live/connecting --FFmpeg exits 0 (the feed ended)--> waiting-for-source   (no penalty)
    live/connecting --target refused/failed/stalled--> backoff --delay--> waiting-for-source
    waiting-for-source --the feed's video is a codec the target does not take--> codec-not-accepted
    codec-not-accepted --the feed, read again every 3 s, ended or changed codec--> waiting-for-source/connecting
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from streamops.contract.egress_policy import REFUSED, EgressPolicy, EgressRefused
from streamops.contract.metrics import spec
from streamops.contract.pusher import (
    CONFIG_ENV,
    PUSHER_STATES,
    STALL_SECONDS,
    PusherConfig,
    PusherState,
    PusherStatus,
)
from streamops.contract.worker_credential import CredentialCheck
from streamops.egress.media_destinations import PinnedMedia, pinned
from streamops.media.feed_access import FeedAccess
from streamops.media.ffmpeg import FfmpegProcess, Progress, UnsafeUri, args_file_text
from streamops.media.metrics_text import exposition
from streamops.media.mpegts import elementary_streams, program_map, video_codec
from streamops.media.pusher.commands import (
    PushTarget,
    StreamKeyError,
    needs_silence,
    push_command,
    push_target,
    read_stream_key,
)
from streamops.media.pusher.delivery import TCP_SCHEMES, Delivery, TargetSocket, is_live, watchdog
from streamops.media.pusher.plan import (
    Backoff,
    Outcome,
    classify_exit,
    codec_refusal,
    feed_poll_seconds,
    telling_error,
)
from streamops.media.pusher.relay_command import ended_outcome, relay_carries, relay_open
from streamops.media.pusher.relay_process import RelayProcess, RelayRun
from streamops.media.pusher.tcp_info import TcpCounters
from streamops.media.secret_fifo import hand_over, make_fifo
from streamops.media.small_http import METRICS_CONTENT_TYPE, Reply, serve, worker_routes
from streamops.media.worker_process import utc_now, worker_main
from streamops.redaction import Redactor

log = logging.getLogger("streamops.pusher")

FEED_POLL_SECONDS = 1.0
STOP_WAKE: dict[str, object] = {"event": "stopping"}  # put in a relay run's events when the pusher stops
FEED_PROBE_TIMEOUT_SECONDS = 5.0  # connect, answer and the PMT (it comes first)
FEED_PROBE_BYTES = 256 * 1024  # PAT and PMT come first; give up on a feed that shows neither by then
FEED_OPENED = "Input #0"  # FFmpeg's dump of the opened feed: it connects to the target next
# A run asked to close: the relay closes its connection at once (a blocked write returns); under
# the operator's request timeout (worker_client.POST_TIMEOUT_SECONDS, 2 s), so its PUT is answered.
RELAY_CLOSE_SECONDS = 1.0
# While the feed's video is a codec the target does not take: how often the feed is read again, so
# that the publisher's next session in a codec it takes is pushed (each read: a PAT and a PMT).
CODEC_POLL_SECONDS = 3.0


async def probe_feed(url: str, headers: dict[str, str] | None = None) -> tuple[bool, bytes | None]:
    """GET the feed: (it answered 200 with media, its first program's PMT packet once it shows).

    HTTP/1.0 on a bare connection rather than aiohttp's client (≈13 MiB of RSS in every pusher):
    an HTTP/1.0 answer is neither chunked nor kept alive, so the body is the bytes up to the close.
    Raises OSError/TimeoutError when the ingest cannot be reached."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        writer.write(f"GET {path or '/'} HTTP/1.0\r\nHost: {parts.netloc}\r\n{extra}\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        fields = head.split(b" ", 2)
        if len(fields) < 2 or fields[1] != b"200":
            return False, None
        data, pmt = b"", None
        while len(data) < FEED_PROBE_BYTES and (chunk := await reader.read(64 * 1024)):
            data += chunk
            pmt = program_map(data)
            if pmt is not None:
                break
        return bool(data), pmt
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return False, None
    finally:
        writer.close()


def pusher_metrics(
    stream: str, target: str, bytes_sent: int, reconnects: int, failures: int, state: PusherState
) -> bytes:
    """/metrics in Prometheus' text format, made from the pusher's own counters when asked: what
    prometheus-client would write for these metrics (contract/metrics.py), without its ≈4 MiB per
    pusher process (issue 15)."""
    labels = {"stream": stream, "target": target}
    states = [({**labels, "state": s}, 1.0 if s == state else 0.0) for s in PUSHER_STATES]
    return exposition(
        [
            (spec("streamops_pusher_state", "pusher"), states),
            (spec("streamops_pusher_sent_bytes_total", "pusher"), [(labels, bytes_sent)]),
            (spec("streamops_pusher_reconnects_total", "pusher"), [(labels, reconnects)]),
            (spec("streamops_pusher_target_failures_total", "pusher"), [(labels, failures)]),
        ]
    )


# --- the worker ----------------------------------------------------------------------------------


class Pusher:
    def __init__(
        self, config: PusherConfig, rand: Callable[[], float] = random.random, relay: RelayProcess | None = None
    ) -> None:
        self.config = config
        self.relay = relay  # the shared pusher's relay: the rtmp(s) runs it carries skip FFmpeg
        self.redact = Redactor()
        self.backoff = Backoff(config.backoff, rand)
        self.stall_seconds = config.stall_seconds or STALL_SECONDS  # the watchdog's
        self.stopping = asyncio.Event()
        self.state: PusherState = "waiting-for-source"
        self.bytes_sent = 0  # cumulative across runs
        self.reconnects = 0
        self.last_error: str | None = None
        self.started_at: datetime | None = None  # the current live period began
        self._attempts = 0  # connections to the target so far (`reconnects` counts all but the first)
        self._run_base = 0  # bytes_sent before the current run
        # time.monotonic() since when a feed not live is asked at the rejoin pace (plan.feed_poll_seconds):
        # the target's start (a Restream added while live, a handover's successor taking its targets:
        # the feed answers within seconds, maybe from an ingest being handed over too), and each time
        # a run ended with its feed.
        self._rejoin_since: float | None = time.monotonic()
        self._delivery = Delivery()
        self._target_socket = TargetSocket()
        self._tcp_target = config.uri.split("://", 1)[0] in TCP_SCHEMES
        self._proc: FfmpegProcess | None = None
        self._run: RelayRun | None = None  # the current run in the relay, if it carries this target
        self._socket: TcpCounters | None = None  # its target socket, as the relay reported it
        self._private_dir = Path(config.private_dir or tempfile.gettempdir())  # run() makes it
        self.feed = FeedAccess(CredentialCheck(config.credential_file))  # presented to the ingest
        self.policy = config.egress or EgressPolicy()  # where the target may be

        self.target_failures = 0  # every target failure since start (the metric; `failures` is the streak)

    # --- telemetry ---------------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        running = (self._proc is not None and self._proc.running) or (self._run is not None and not self._run.ended)
        return running and is_live(self._delivery.last_at, time.monotonic())

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
        cfg, status = self.config, self.status()  # the state as /status says it (live: bytes reach the target)
        text = pusher_metrics(
            cfg.stream, cfg.name, self.bytes_sent, self.reconnects, self.target_failures, status.state
        )
        return Reply(200, text, METRICS_CONTENT_TYPE)

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
        """The single-target worker: its HTTP face and the push loop."""
        cfg = self.config
        if cfg.private_dir:
            self._private_dir = Path(cfg.private_dir)
            self._private_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        else:
            self._private_dir = Path(tempfile.mkdtemp(prefix="streamops-push-"))
        routes = worker_routes(self.status, lambda: self.live, self.metrics)
        server = await serve(routes, cfg.http_host, cfg.http_port, CredentialCheck(cfg.credential_file))
        try:
            await self.push()
        finally:
            await server.cleanup()
            if not cfg.private_dir:
                shutil.rmtree(self._private_dir, ignore_errors=True)

    async def push(self) -> None:
        """The push loop until stop(): one target's supervisor (a shared pusher runs one per target,
        media/pusher/station.py). `config.private_dir` exists (the caller made it)."""
        cfg = self.config
        if cfg.private_dir:
            self._private_dir = Path(cfg.private_dir)
        log.info("%s: pushing %s to %s", cfg.name, cfg.feed_url, cfg.uri)
        try:
            while not self.stopping.is_set():
                await self._cycle()
        finally:
            if self._proc is not None:
                await self._proc.stop(grace=2)

    def carry_counters(self, previous: Pusher) -> None:
        """A target restarted for a change of its own goes on counting where its previous run was:
        bytesSent, reconnects and failures add up (its next connection is a reconnect)."""
        self.bytes_sent = previous.bytes_sent
        self.reconnects = previous.reconnects
        self.target_failures = previous.target_failures
        self._attempts = previous._attempts

    def _refuse_codec(self, why: str) -> None:
        """The feed's video is a codec the target does not take: nothing is sent (not a target failure)."""
        if self.state != "codec-not-accepted" or self.last_error != why:
            log.warning("%s: not pushing: %s", self.config.name, why)
        self.last_error = why
        self._set_state("codec-not-accepted")

    async def _cycle(self) -> None:
        if self.state != "codec-not-accepted":  # (kept while the refused session lasts: no flapping)
            self._set_state("waiting-for-source")
        pmt = await self._wait_for_feed()
        if self.stopping.is_set():
            return
        codec = video_codec(pmt) if pmt is not None else None
        refusal = codec_refusal(codec, self.config.video_codecs, self.config.uri)
        if refusal is not None:
            self._refuse_codec(refusal)
            await self._sleep(CODEC_POLL_SECONDS)
            return
        streams = elementary_streams(pmt) if pmt is not None else None
        stream_types = None if streams is None else [s.stream_type for s in streams]
        try:
            key = None
            if self.config.stream_key_file:
                key = read_stream_key(self.config.stream_key_file)
                self.redact.add(key)  # before anything can print it
            if self.config.tls_ca_file and not Path(self.config.tls_ca_file).is_file():
                raise StreamKeyError(  # fail closed, and say it: FFmpeg would only say the certificate failed
                    f"the CA file of tls.caSecretRef is missing in the pusher Pod ({self.config.tls_ca_file}): "
                    "does the Secret exist with that key?"
                )
            # The egress guard (docs/design/egress.md, "Media URLs"): the target's host resolved and
            # checked now, FFmpeg given the checked address (the name kept for tcUrl and TLS).
            destination = await pinned(self.config.uri, self.policy)
            target = push_target(destination.url, key, self.config.tls_ca_file, self.config.tls_insecure_skip_verify)
            target = replace(target, options={**target.options, **destination.options})
        except (StreamKeyError, UnsafeUri) as e:
            self._fail(str(e))
            await self._back_off(0.0)
            return
        except OSError as e:  # refused by the policy: said so and nothing else (no port-scan oracle)
            self._fail(REFUSED if isinstance(e, EgressRefused) else "the target's host name does not resolve")
            await self._back_off(0.0)
            return
        add_silence = needs_silence(self.config.no_audio_mode, stream_types)
        if (
            self.relay is not None
            and self.relay.available
            and relay_carries(self.config.uri, add_silence, stream_types)
        ):
            outcome, uptime, error = await self._relay_once(destination, key)
        else:
            outcome, uptime, error = await self._push_once(target, add_silence)
        self.started_at = None
        if outcome is Outcome.TARGET_FAILED:
            self._fail(error)
            await self._back_off(uptime)
        elif outcome is not Outcome.STOPPED:
            if outcome is Outcome.SOURCE_ENDED:
                self._rejoin_since = time.monotonic()
            self.backoff.link_was_up(uptime)
            log.info("%s: %s", self.config.name, outcome.value)
            if outcome is Outcome.SOURCE_UNAVAILABLE:
                await self._sleep(feed_poll_seconds(self._rejoin_since, time.monotonic(), FEED_POLL_SECONDS))

    async def _back_off(self, uptime: float) -> None:
        self.backoff.link_was_up(uptime)
        delay = self.backoff.next_delay(utc_now())
        self._set_state("backoff")
        log.info("%s: retrying in %.1f s", self.config.name, delay)
        await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def _wait_for_feed(self) -> bytes | None:
        """Poll the feed until it answers 200; return its PMT packet when it shows (None: no PMT seen,
        the tracks and the codec are unknown)."""
        while not self.stopping.is_set():
            # Not up yet (refused, timed out): the ingest starts with us or restarts.
            with contextlib.suppress(TimeoutError, OSError, ValueError):
                async with asyncio.timeout(FEED_PROBE_TIMEOUT_SECONDS):
                    answered, pmt = await probe_feed(self.config.feed_url, self.feed.header())
                if answered:
                    return pmt
                # 200 and no byte: that session ended while we looked; wait for the next
            self._set_state("waiting-for-source")  # a refused session, if any, is over
            await self._sleep(feed_poll_seconds(self._rejoin_since, time.monotonic(), FEED_POLL_SECONDS))
        return None

    async def _relay_once(self, destination: PinnedMedia, key: str | None) -> tuple[Outcome, float, str]:
        """One run in the shared relay (no FFmpeg): its events are this run's progress and its
        socket's kernel counters (the relay reads them: what reached the target), the watchdog the
        same as FFmpeg's."""
        assert self.relay is not None
        cfg = self.config
        self._set_state("connecting")
        ca = Path(cfg.tls_ca_file).read_text(encoding="utf-8") if cfg.tls_ca_file else None
        command = relay_open(
            self.relay.new_run_id(cfg.name),
            cfg.feed_url,
            self.feed.header().get("Authorization"),
            cfg.uri,
            destination,
            key,
            ca,
            cfg.tls_insecure_skip_verify,
        )
        self._run_base = self.bytes_sent
        delivery = self._delivery = Delivery()
        self._socket = None
        run = self._run = await self.relay.open(command)
        started = time.monotonic()
        ended: dict[str, object] | None = None
        killed_for: str | None = None
        # The stop wakes the wait for the run's next event: one wait a second per target (the
        # relay reports each second), no task made per event (50 targets: that was most of the
        # supervisor's CPU).
        stop = asyncio.ensure_future(self.stopping.wait())
        stop.add_done_callback(lambda _: run.events.put_nowait(STOP_WAKE))
        try:
            while ended is None:
                event: dict[str, object] | None = None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        event = await run.events.get()
                if stop.done():
                    return Outcome.STOPPED, 0.0, ""
                now = time.monotonic()
                if event is not None and event is not STOP_WAKE:
                    ended = self._relay_event(event, now)
                if self.live:  # a link that stays up ends the failure streak now, not when it drops
                    self.backoff.link_was_up(delivery.uptime())
                if ended is None and (
                    killed_for := watchdog(started, delivery.first_at, delivery.last_at, now, self.stall_seconds)
                ):
                    break
        finally:
            stop.cancel()
            if not run.ended:
                self.relay.close(run)
                await _closed(run)
            self._run = None
        if killed_for:
            return Outcome.TARGET_FAILED, delivery.uptime(), killed_for
        assert ended is not None
        outcome = ended_outcome(str(ended.get("reason", "")))
        return outcome, delivery.uptime(), self.redact(str(ended.get("error") or "the relay ended the run"))

    def _relay_event(self, event: dict[str, object], now: float) -> dict[str, object] | None:
        """One event of the run; the `ended` event, else None."""
        kind = event.get("event")
        if kind == "connecting":
            if self._attempts:
                self.reconnects += 1
            self._attempts += 1
        elif kind == "connected":
            self._socket = _relay_socket(event)
        elif kind == "sent" and isinstance(sent := event.get("bytes"), int):
            total = self._run_base + sent
            if total > self.bytes_sent:
                self.bytes_sent = total
                self._delivery.written(now)  # (counts until the socket's counters do)
            if self._socket is not None and isinstance(acked := event.get("acked"), int):
                wnd, notsent = event.get("wnd"), event.get("notsent")
                counters = replace(
                    self._socket,
                    bytes_acked=acked,
                    notsent=notsent if isinstance(notsent, int) else None,
                    snd_wnd=wnd if isinstance(wnd, int) else None,
                )
                self._delivery.sampled(counters, now, wrote_media=self.bytes_sent > self._run_base)
            self._note_delivery()
        elif kind == "ended":
            if isinstance(sent := event.get("bytes"), int):
                self.bytes_sent = max(self.bytes_sent, self._run_base + sent)
            return event
        return None

    async def _push_once(self, target: PushTarget, add_silence: bool) -> tuple[Outcome, float, str]:
        """One FFmpeg run; returns why it ended, how long the link was up, the (redacted) error."""
        self._set_state("connecting")
        args_file = self._private_dir / f"target-{time.monotonic_ns()}.args"
        pushed = push_command(self.config.feed_url, target, add_silence, args_file, self.feed.header_args())
        make_fifo(args_file)
        if add_silence:
            log.info("%s: the feed has no audio: adding a silent track", self.config.name)
        self._run_base = self.bytes_sent
        delivery = self._delivery = Delivery()
        self._target_socket = TargetSocket()
        proc = FfmpegProcess(
            "push", pushed.argv, self.redact, log, on_progress=self._on_progress, on_stderr=self._on_ffmpeg_line
        )
        self._proc = proc
        started = time.monotonic()
        killed_for: str | None = None
        try:
            await proc.start()
        except BaseException:
            args_file.unlink(missing_ok=True)
            raise
        assert proc.process is not None
        handed = asyncio.ensure_future(hand_over(args_file, args_file_text(pushed.file_args), lambda: proc.running))
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
                killed_for = watchdog(started, delivery.first_at, delivery.last_at, now, self.stall_seconds)
                if killed_for:
                    await proc.stop(grace=0.5)  # SIGTERM alone would wait on the trailer
                    break
            rc = await proc.wait()
        finally:
            stop.cancel()
            if proc.running:
                await proc.stop(grace=0.5)
            handed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handed  # its `finally` removes the FIFO
            self._proc = None
        if killed_for:
            return Outcome.TARGET_FAILED, delivery.uptime(), killed_for
        outcome = classify_exit(rc, proc.tail, self.config.feed_url)
        return outcome, delivery.uptime(), telling_error(list(proc.tail), self.config.uri, rc)


async def _closed(run: RelayRun) -> None:
    """Until the relay says the run ended (it closed the target's connection), at most
    RELAY_CLOSE_SECONDS: a target stopped is let go when its stop returns, so that a shared
    pusher's `PUT /targets` answers once its publishes are gone (a handover's successor, sent the
    set on that answer, is not refused "already publishing": docs/design/handover.md)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(RELAY_CLOSE_SECONDS):
            while not run.ended:
                await run.events.get()


def _relay_socket(event: dict[str, object]) -> TcpCounters | None:
    """The target's socket as the relay reports it (`connected`): the identity its counters (in
    each `sent` event) are sampled under."""
    local, peer, inode = event.get("local"), event.get("peer"), event.get("inode")
    if not (isinstance(local, str) and isinstance(peer, str) and isinstance(inode, int)):
        return None
    try:
        local_host, _, local_port = local.rpartition(":")
        peer_host, _, peer_port = peer.rpartition(":")
        return TcpCounters(
            inode=inode,
            peer=(peer_host.strip("[]"), int(peer_port)),
            bytes_acked=None,
            notsent=None,
            local=(local_host.strip("[]"), int(local_port)),
        )
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    what = "Forward the live feed as is to one target."
    return worker_main(argv, "push", CONFIG_ENV, PusherConfig.model_validate_json, Pusher, what)

"""The ingest worker: takes one publisher (RTMP and RTMPS through the key-checking front,
rtmp_front.py; SRT with the key as passphrase; or WHIP: webrtc/) or pulls from origins round-robin,
one live session at a time; serves HLS (and DASH) with the DVR window, a screenshot every N s, the
live feed (routes.py) and WHEP.

    streamops worker ingest        (config: env STREAMOPS_INGEST_CONFIG or --config FILE, JSON)

Sessions (session.py) report here through SessionEvents; on_air.py decides whose media is served.
Why: docs/design/ingest-robustness.md (standby listener, silence watch), backup-failover.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from streamops.api.livestream import Failback, PullRtsp, PullSource, PushProtocol
from streamops.contract.egress_policy import REFUSED, EgressPolicy
from streamops.contract.ingest import CONFIG_ENV, FEED_PATH, IngestConfig, IngestStatus, PullFailure
from streamops.contract.playback_token import is_trusted
from streamops.contract.stream_key import srt_passphrase_problem
from streamops.contract.worker_credential import CredentialCheck
from streamops.egress.media_destinations import PinnedMedia
from streamops.media.feed_access import FeedAccess
from streamops.media.ffmpeg import FfmpegProcess, Progress, SourceFacts
from streamops.media.ingest.backup_link import BackupOffer
from streamops.media.ingest.commands import (
    flv_fifo_input,
    hls_variants,
    listener_protocols,
    master_playlist,
    muxed_hls_variants,
    pull_input,
    relay_input,
    renditions,
    screenshot_command,
    srt_listen_input,
    srt_listen_script,
)
from streamops.media.ingest.dash_chunks import may_be_held
from streamops.media.ingest.early_refusal import serve_public
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.key_bearing import https_only
from streamops.media.ingest.load_caps import RATE_PER_CLIENT, RATE_TOTAL, Limits, LoadCaps
from streamops.media.ingest.on_air import RELAY_FEED_PATH, OnAir
from streamops.media.ingest.overlay_switch import SwitchedOverlays, add_switch_route
from streamops.media.ingest.playback_access import PlaybackGate, install_token_path_filter
from streamops.media.ingest.player_settings import PageSettings, add_player_settings_route
from streamops.media.ingest.public_thread import LoopThread, handlers_on
from streamops.media.ingest.pull_egress import PullEgress, refusal_message
from streamops.media.ingest.routes import (
    add_feed_routes,
    add_playback_routes,
    add_relay_routes,
    add_viewers_route,
    media_prefixes,
)
from streamops.media.ingest.rtmp_front import Admission, RtmpFront
from streamops.media.ingest.rtsp_pull import CredentialsUnreadable, credentialed_url, failure, is_rtsp, read_credentials
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.session import LiveMeter, LiveRates, Session, SessionEvents
from streamops.media.ingest.session_history import SessionHistory, publish_protocol
from streamops.media.ingest.webrtc.routes import add_webrtc_routes
from streamops.media.ingest.webrtc.runner import WebRtcRunner
from streamops.media.ingest.worker_http import credential_required, public_app, serve, worker_app
from streamops.media.overlay.reports import overlay_reports
from streamops.media.worker_metrics import counter, read_counter, read_gauge, worker_registry
from streamops.media.worker_process import utc_now, worker_main
from streamops.redaction import Redactor

log = logging.getLogger("streamops.ingest")

STANDBY_LISTEN_SECONDS = 10  # a standby RTMP session whose publisher sends no media is stopped after this


class IngestWorker:
    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self.media_dir = Path(config.media_dir)
        self.sessions_dir = self.media_dir / "sessions"
        self.screenshot = self.media_dir / "screenshot.jpg"
        self.redact = Redactor()
        # The stream's worker credential: what the internal face asks for, and what this worker's
        # own feed readers (screenshot, WHEP) and a backup's uplink present.
        self.credential = CredentialCheck(config.credential_file)
        self.feed_access = FeedAccess(self.credential)
        self.pull_egress = PullEgress(config.egress or EgressPolicy())  # where pull URLs may connect
        self.feed = FeedHub()  # the own session's feed
        self.transcoded_feed = FeedHub()
        # What the media routes serve: the hubs above, or a relay's of the backup's feed, and that
        # session's HLS (on_air.py decides, go_on_air switches).
        self.served = ServedMedia(self.feed, self.transcoded_feed)
        self.on_air = OnAir(self, relays=config.role == "primary" and config.source.push is not None, log=log)
        self.meter = LiveMeter()
        self.history = SessionHistory(config.role)  # IngestStatus.sessions
        self.worker_started_at = utc_now()  # the overlay renderer's reports are due some time after
        self.overlays = SwitchedOverlays(config, log)
        self.page_settings = PageSettings(log)  # the player page's projection (POST /player-settings)
        self.current: Session | None = None
        self.facts = SourceFacts()
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.last_media = 0.0
        self.active = True
        self.deactivated_reason: str | None = None
        self.pull_index = 0
        self.pull_failure: PullFailure | None = None  # the last pull attempt that gave no media
        self.listeners: list[Session] = []
        self.stopping = asyncio.Event()
        self.rtmp: RtmpFront | None = None
        # The SRT listener's and the RTMP sessions' FIFOs (never served: a dot name; mode 0700).
        self.private_dir = self.media_dir / ".private"
        self.standby: Session | None = None  # an RTMP session for a publisher arriving while none is idle
        self._standby_tasks: set[asyncio.Task[None]] = set()
        self.listening = False  # the listeners (push) or the pull loop are up: see `accepting`
        # Where the HTTP faces listen (the ports bound, once `run` has: 0 in a test's config picks one).
        self.http_port, self.internal_port = config.ports.http, config.ports.internal
        self.session_events = SessionEvents(
            on_started=self.session_started,
            on_media=self.session_media,
            on_transcoded=self.transcoded_feed.publish,
            on_progress=self.session_progress,
            on_ended=self.session_ended,
            on_captions=self.session_captions,
        )
        self._metrics()
        self.webrtc = WebRtcRunner(self, self.private_dir, self.registry, self._labels, self.redact, log)
        self.playback = PlaybackGate(config, self.registry, self._labels, log, lambda: self.webrtc.whep_viewers)
        held = may_be_held if config.dash_low_latency else (lambda _: False)
        trusted, rates = self.playback.trusted, config.request_rates
        self.caps = LoadCaps(
            self.registry,
            self._labels,
            Limits(
                rate_per_client=(rates and rates.per_client) or RATE_PER_CLIENT,
                rate_total=(rates and rates.total) or RATE_TOTAL,
            ),
            client=self.playback.client,
            held=held,
            proxy=lambda peer: is_trusted(peer, trusted),
        )

    # --- telemetry -------------------------------------------------------------------------------
    def _metrics(self) -> None:
        """The catalogue's ingest metrics (contract/metrics.py), read from the worker at each scrape."""
        self.registry = registry = worker_registry()
        self._labels = labels = {"stream": self.config.stream, "role": self.config.role}

        def read(name: str, value: Callable[[], float]) -> None:
            read_gauge(name, "ingest", registry, labels, value)

        read("streamops_ingest_live", lambda: 1 if self.live else 0)
        read("streamops_ingest_frame_rate", lambda: self.live_rates().frame_rate or 0)
        read("streamops_ingest_bitrate_bits_per_second", lambda: self.live_rates().bitrate or 0)
        read("streamops_ingest_video_width_pixels", lambda: self.facts.width or 0)
        read("streamops_ingest_video_height_pixels", lambda: self.facts.height or 0)
        read("streamops_ingest_keyframe_interval_seconds", lambda: self.served.feed.keyframe_interval)
        read("streamops_ingest_segment_target_seconds", lambda: self.config.hls.segment_seconds)
        read("streamops_ingest_playlist_updated_timestamp_seconds", self.playlist_updated_at)
        read("streamops_ingest_transcoding_speed_ratio", lambda: self.live_rates().transcoding_speed or 0)
        read("streamops_ingest_feed_consumers", lambda: self.served.feed.consumers)
        self.m_sessions = counter("streamops_ingest_sessions_total", "ingest", registry).labels(**labels)
        refused = "streamops_ingest_publishers_refused_total"
        read_counter(refused, "ingest", registry, labels, lambda: self.rtmp.refused if self.rtmp else 0)
        self.m_rtmp_refused = counter("streamops_ingest_rtmp_refused_total", "ingest", registry)

    def live_rates(self) -> LiveRates:
        """Frame rate, speed and bitrate of what is on air (none while nothing is)."""
        return self.meter.rates() if self.on_air_live else LiveRates()

    def playlist_updated_at(self) -> float:
        """Unix time the HLS playlist served first (the top rendition's) last gained a segment, 0
        before the first: the LL-HLS packager's, else the time FFmpeg last rewrote its playlist
        (its hls muxer does so as each segment completes)."""
        served = self.served.dir
        ladder = renditions(self.config)
        top = ladder[0].name if ladder else ""
        packager = self.served.packagers.get(top)
        if packager is not None:
            return packager.segment_completed_at
        muxed = muxed_hls_variants(self.config)
        if served is None or not muxed:
            return 0.0
        try:
            return (served / muxed[0][0] / top / "index.m3u8").stat().st_mtime
        except OSError:
            return 0.0

    @property
    def live(self) -> bool:
        return self.feed.sending  # the feed's own session and its silence rule (feed.SILENCE_SECONDS)

    @property
    def accepting(self) -> bool:
        """Readiness: publishers are accepted (push) or the pull runs. Not `live`: the Service must
        route to an ingest before media flows, or no encoder outside could ever make it live."""
        front_up = self.rtmp is None or self.rtmp.listening.is_set()
        return self.listening and front_up and self.active and not self.stopping.is_set()

    @property
    def on_air_live(self) -> bool:
        """What is served flows: the own session's media, or a relay's of the backup's."""
        return self.on_air.sending(time.monotonic())

    def status(self) -> IngestStatus:
        rates = self.live_rates()
        facts = self.facts
        status = IngestStatus(
            live=self.live,
            active=self.active,
            deactivated_reason=self.deactivated_reason,
            pull_failure=None if self.live else self.pull_failure,
            source=self.current.kind if self.current and self.live else None,
            active_ingest=self.on_air.active_ingest(self.config.role, time.monotonic()),
            backup_wanted=self.on_air.wanted,
            started_at=self.started_at,
            finished_at=self.finished_at,
            video_width=facts.width,
            video_height=facts.height,
            video_codec=facts.video_codec,
            video_profile=facts.video_profile,
            pixel_format=facts.pixel_format,
            bit_depth=facts.bit_depth,
            audio_codec=facts.audio_codec,
            frame_rate=rates.frame_rate,
            transcoding_speed=rates.transcoding_speed,
            bitrate=rates.bitrate,
            feed_consumers=self.served.feed.consumers,
            refused_publishers=self.rtmp.refused if self.rtmp else 0,
            tls_certificate_sha256=self.rtmp.fingerprint if self.rtmp else None,
            tls_error=self.rtmp.tls_error if self.rtmp else None,
            webrtc=self.webrtc.status(),
            viewers=self.playback.viewers.report(self.webrtc.whep_viewers),
            feed_cache_bytes=self.served.feed.cache_bytes,
            transcoded_qualities=[r.name for r in renditions(self.config)],
            sessions=self.history.report(time.monotonic()),
            overlays=overlay_reports(self.config, utc_now(), self.worker_started_at),
            overlays_enabled=self.overlays.enabled,
            projection=self.page_settings.current.projection,
            player_settings=self.page_settings.current.digest(),
        )
        return status

    def _rtmp_refused(self, reason: str, count: int) -> None:
        self.m_rtmp_refused.labels(**self._labels, reason=reason).inc(count)

    # --- sessions --------------------------------------------------------------------------------
    def session_started(self, session: Session) -> bool:
        previous = self.current
        if previous is not None and previous is not session and self.live:
            # It came back while the newcomer connected: a sending publisher is never displaced.
            log.info("%s publisher refused: the %s session is live again", session.kind, previous.kind)
            return False
        if previous is not None and previous is not session:
            log.info("%s publisher displaces the silent %s session", session.kind, previous.kind)
            asyncio.get_running_loop().create_task(previous.process.stop(grace=1))
        self.current = session
        self.feed.start_session()
        if renditions(self.config):
            self.transcoded_feed.start_session()
        self.started_at, self.finished_at = utc_now(), None
        protocol = publish_protocol(session.kind, session.tls)
        self.history.start(time.monotonic(), self.started_at, protocol, session.facts)
        self.m_sessions.inc()
        log.info("%s session started", session.kind)
        for other in self.listeners:  # one publisher at a time: the other protocol stands down
            if other is not session:
                asyncio.get_running_loop().create_task(other.process.stop(grace=1))
        self.on_air.own_started(time.monotonic())  # on air at once, unless the backup's media holds the air
        return True

    def go_on_air(self, session: Session, feed: FeedHub, transcoded: FeedHub) -> None:
        """`session`'s media becomes what the feed, HLS and the screenshot serve (on_air.py decides)."""
        served = self.served
        for old, new in ((served.feed, feed), (served.transcoded_feed, transcoded)):
            if old is not new and old.live:
                # Its consumers come back for the new source (EOF, as on a publisher's reconnect);
                # it goes on caching, for a switch back.
                old.end_session()
                old.start_session()
        served.feed, served.transcoded_feed = feed, transcoded
        self.write_master_playlists(session)
        self.meter.reset()
        self.facts = session.facts
        served.dir, served.packagers, served.facts = session.dir, session.packagers, session.facts
        self.webrtc.on_air_changed()
        running = (session, self.current, self.standby, self.on_air.relay, *self.listeners)
        in_use = {s.dir for s in running if s is not None}
        for directory in self.sessions_dir.iterdir():
            if directory not in in_use:
                shutil.rmtree(directory, ignore_errors=True)

    def write_master_playlists(self, session: Session) -> None:
        """The multivariant playlist of each HLS flavour of a transcoded `session` (none without
        renditions: FFmpeg's media playlist is the stream's). Renamed into place: players may be
        reading the old one."""
        if not renditions(self.config):
            return
        facts = session.facts
        master = master_playlist(self.config, facts.width, facts.height, closed_captions=session.closed_captions)
        for variant, _ in hls_variants(self.config):
            path = session.dir / variant / "index.m3u8"
            partial = path.with_name(".index.m3u8.tmp")
            partial.write_text(master)
            partial.replace(path)

    def session_captions(self, session: Session) -> None:
        """Captions that came after the session started: declared from now on, for players that load
        the multivariant playlist from now on (docs/design/captions.md)."""
        log.info("%s session carries closed captions", session.kind)
        if self.served.dir == session.dir:
            self.write_master_playlists(session)

    def relay_session(self) -> Session:
        """A session reading the backup's feed as this primary receives it (on_air.py runs it). It
        presents the worker credential like every feed reader (with `worker.hostNetwork` loopback is
        the node's: issue 52, finding 8), through an `-args_file` FIFO, never on the command line."""
        url, options = relay_input(f"http://{self.loopback_host}:{self.internal_port}{RELAY_FEED_PATH}")
        fifo = self.private_dir / f"relay-{time.monotonic_ns()}.args"
        on_air = self.on_air
        events = SessionEvents(
            on_started=on_air.relay_started,
            on_media=on_air.relay_media,
            on_transcoded=on_air.relay_transcoded,
            on_progress=on_air.relay_progress,
            on_ended=on_air.relay_ended,
            on_captions=self.session_captions,
        )
        return Session(
            "backup",
            url,
            options,
            config=self.config,
            sessions_dir=self.sessions_dir,
            redact=self.redact,
            events=events,
            args_file=fifo,
            hidden_options=self.feed_access.header_args(),
        )

    @property
    def loopback_host(self) -> str:
        """Where this worker reaches its own HTTP face."""
        bind = self.config.bind_address
        return "127.0.0.1" if bind in ("", "0.0.0.0", "::") else bind

    def session_media(self, chunk: bytes) -> None:
        self.feed.publish(chunk)
        self.last_media = time.monotonic()
        self.history.media(self.last_media, len(chunk))
        self.on_air.own_media(self.last_media)

    def session_progress(self, progress: Progress) -> None:
        self.history.frames(progress.frame)
        if self.on_air.serves(self.current):
            self.meter.add(time.monotonic(), progress, self.feed.bytes_in)

    def session_ended(self, session: Session, rc: int | None) -> None:
        if self.current is not session:  # refused, or displaced: the live session is another one
            log.info("%s publisher gone (ffmpeg exit %s)", session.kind, rc)
            return
        self.current = None
        self.feed.end_session()
        self.transcoded_feed.end_session()
        self.finished_at = utc_now()
        self.history.end(time.monotonic(), self.finished_at)
        log.info("%s session ended (ffmpeg exit %s)", session.kind, rc)
        self.on_air.own_ended(time.monotonic())
        self.webrtc.on_air_changed()

    def new_session(
        self,
        kind: str,
        url: str,
        options: dict[str, Any],
        secret_input: tuple[Path, str] | None = None,
        audio_codec: str = "copy",
        fifo_input: Path | None = None,
        args_file: Path | None = None,
    ) -> Session:
        return Session(
            kind,
            url,
            options,
            config=self.config,
            sessions_dir=self.sessions_dir,
            redact=self.redact,
            events=self.session_events,
            secret_input=secret_input,
            audio_codec=audio_codec,
            fifo_input=fifo_input,
            args_file=args_file,
        )

    def rtmp_admit(self, front_id: int, tls: bool) -> Admission:
        """The RTMP front's question for a publisher whose key matched: the FIFO of the FFmpeg
        session that takes its media, or why not. Only a live, sending session holds the stream. The
        idle listener takes the newcomer; while it is taken (a publisher connecting) or a session is
        silent, a standby session of its own does, so a silent session's successor is accepted at
        once: its media, once it flows, displaces the silent one (`session_started`)."""
        if not self.active:
            return "inactive"
        if self.live:
            return "busy"
        idle = next((s for s in self.listeners if s.kind == "rtmp" and s.takes_publisher), None)
        session = idle or self._start_standby()
        if session is None:
            return "busy"
        session.front_id, session.tls = front_id, tls
        assert session.fifo_input is not None
        return session.fifo_input

    def _rtmp_session(self) -> Session:
        """An FFmpeg session that reads FLV from a FIFO of its own, written by the RTMP front."""
        fifo = self.private_dir / f"rtmp-{time.monotonic_ns()}.flv"
        url, options = flv_fifo_input(fifo)
        return self.new_session("rtmp", url, options, fifo_input=fifo)

    def _start_standby(self) -> Session | None:
        if self.standby is not None:
            return None  # one newcomer at a time beside the idle listener
        self.standby = session = self._rtmp_session()
        task = asyncio.get_running_loop().create_task(self._run_standby(session))
        self._standby_tasks.add(task)
        task.add_done_callback(self._standby_tasks.discard)
        return session

    async def _run_standby(self, session: Session) -> None:
        run = asyncio.create_task(self.run_session(session))
        try:
            # A publisher admitted but sending no media (or a front that never opened the FIFO) does
            # not hold the standby for good: FFmpeg would wait on the FIFO forever.
            done, _ = await asyncio.wait([run], timeout=STANDBY_LISTEN_SECONDS)
            if not done and not session.started:
                await session.process.stop(grace=1)
            await run
        except Exception as e:  # a standby's failure is logged; the front's next publisher gets another
            log.error("standby rtmp session failed: %s", self.redact(str(e)))
        finally:
            if self.standby is session:
                self.standby = None

    async def run_session(self, session: Session) -> bool:
        """`session.run()`, then the RTMP front cuts its publisher (displaced, silent, stopped)."""
        try:
            return await session.run()
        finally:
            if session.front_id is not None and self.rtmp is not None:
                self.rtmp.close(session.front_id)

    async def silence_watch(self) -> None:
        """End a session that sends nothing for `publisher_timeout` s, whatever its protocol: the RTMP
        gate and SRT's read timeout cut a silent publisher's connection; this also catches one that
        sends bytes but no media."""
        timeout = self.config.publisher_timeout
        while not self.stopping.is_set():
            session = self.current
            if session is not None and time.monotonic() - self.last_media >= timeout:
                log.warning("%s session sent nothing for %g s: ending it", session.kind, timeout)
                await session.process.stop(grace=1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=0.5)

    def read_key(self) -> bytes | None:
        if not self.config.stream_key_file:
            return None
        try:
            key = Path(self.config.stream_key_file).read_bytes().strip()
        except OSError:
            return None
        if key:
            self.redact.add(key.decode(errors="replace"))
        return key or None

    def _listener(self, protocol: PushProtocol, key: bytes | None) -> Session | None:
        if protocol == "rtmp":
            return self._rtmp_session()
        if key and srt_passphrase_problem(key) is None and key.decode(errors="replace").isprintable():
            push = self.config.source.push
            latency = push.srt.latency_ms if push and push.srt else None
            script = srt_listen_script(
                self.config.bind_address, self.config.ports.srt, key.decode(), latency, self.config.publisher_timeout
            )
            fifo = self.private_dir / f"srt-{time.monotonic_ns()}.ffconcat"
            url, options = srt_listen_input(fifo)
            session = self.new_session(protocol, url, options, secret_input=(fifo, script))
            session.key = key
            return session
        # No key, no SRT: the passphrase is the key. Nor one SRT refuses (not 10..79 bytes): FFmpeg would
        # exit at once and be started again every few ms; the LiveStream's status says why (operator).
        return None

    async def push_loop(self) -> None:
        """Keep an idle listener per protocol while no one publishes; a listener that ends without
        a session (refused publisher, bad handshake) is replaced, one that ran a session too."""
        push = self.config.source.push
        assert push is not None
        running: dict[PushProtocol, tuple[Session, asyncio.Task[bool]]] = {}
        stop = asyncio.create_task(self.stopping.wait())
        try:
            while not self.stopping.is_set():
                key = self.read_key()
                if self.current is None:
                    for protocol in listener_protocols(push.protocols):
                        if protocol not in running and (session := self._listener(protocol, key)) is not None:
                            running[protocol] = (session, asyncio.create_task(self.run_session(session)))
                    srt = running.get("srt")
                    if srt is not None and srt[0].key != key:  # rotated key: SRT needs a new passphrase
                        await srt[0].process.stop(grace=1)
                self.listeners = [session for session, _ in running.values()]
                tasks = [task for _, task in running.values()]
                await asyncio.wait([*tasks, stop], timeout=1, return_when=asyncio.FIRST_COMPLETED)
                for protocol, (_, task) in list(running.items()):
                    if task.done():
                        del running[protocol]
                        if task.exception() is not None:
                            log.error("%s listener failed: %s", protocol, self.redact(str(task.exception())))
                        if task.exception() is not None or not task.result():
                            await asyncio.sleep(0.05)  # a listener that failed at once must not spin
        finally:
            stop.cancel()
            for session, task in running.values():
                await session.process.stop(grace=3)
                task.cancel()

    async def pull_loop(self) -> None:
        pull = self.config.source.pull
        assert pull is not None
        await self.pull_egress.start(pull.urls)
        try:
            await self._pull_urls(pull)
        finally:
            await self.pull_egress.close()

    async def _pull_urls(self, pull: PullSource) -> None:
        urls = pull.urls
        self.last_media = time.monotonic()
        failures_in_a_row = 0
        while not self.stopping.is_set():
            if time.monotonic() - self.last_media > pull.inactivity_timeout_seconds:
                self.active = False
                self.deactivated_reason = f"no data for {pull.inactivity_timeout_seconds} s from any pull URL"
                log.warning("stream deactivated: %s", self.deactivated_reason)
                return
            index = self.pull_index % len(urls)
            attempt: Session | PullFailure
            try:  # the egress guard first: nothing is opened that it did not check (pull_egress.py)
                target = await self.pull_egress.attempt(urls[index])
            except OSError as e:
                attempt = PullFailure(url_index=index, url=urls[index], kind="failed", message=refusal_message(e))
            else:
                attempt = self._pull_session(index, urls[index], pull.rtsp, target)
            if isinstance(attempt, PullFailure):  # nothing to run: the next URL
                self.pull_failure = attempt
                log.warning("pull URL #%d not tried: %s", index, attempt.message)
                self.pull_index += 1
                failures_in_a_row += 1
                if failures_in_a_row % len(urls) == 0:
                    await asyncio.sleep(min(5.0, 0.5 * failures_in_a_row / len(urls)))
                continue
            session = attempt
            self.listeners = [session]
            run = asyncio.create_task(session.run())
            stop = asyncio.create_task(self.stopping.wait())
            await asyncio.wait([run, stop], return_when=asyncio.FIRST_COMPLETED)
            if stop.done():
                await session.process.stop()
                run.cancel()
                return
            stop.cancel()
            flowed = run.result()
            if not flowed:
                process, credentialed = session.process, session.args_file is not None
                self.pull_failure = failure(index, urls[index], process.tail, process.last_error(), credentialed)
                if self.pull_egress.refused_during():  # a redirect or a segment the guard refused
                    self.pull_failure = PullFailure(url_index=index, url=urls[index], kind="failed", message=REFUSED)
                log.info("pull URL #%d gave no media: %s", index, self.pull_failure.message)
            else:
                self.pull_failure = None
            # Failed or stopped sending: the next URL becomes current (round-robin).
            self.pull_index += 1
            failures_in_a_row = 0 if flowed else failures_in_a_row + 1
            if failures_in_a_row and failures_in_a_row % len(urls) == 0:
                await asyncio.sleep(min(5.0, 0.5 * failures_in_a_row / len(urls)))

    def _pull_session(self, index: int, url: str, rtsp: PullRtsp | None, target: PinnedMedia) -> Session | PullFailure:
        """One attempt at pull URL #`index`, opened as the egress guard let it (`target`: the checked
        address, or the guard's proxy). An RTSP camera's user name and password are read now
        (a changed Secret reaches the next attempt), join the redactor, and reach FFmpeg inside the
        URL through an `-args_file` FIFO only (rtsp_pull.py)."""
        pull = self.config.source.pull
        insecure = bool(pull and pull.tls and pull.tls.insecure_skip_verify)
        ca_file = self.config.pull_tls_ca_file
        # the spec's URL, checked (scheme, no userinfo); rtmps/https verified (commands.pull_input)
        _, options = pull_input(url, rtsp, ca_file, insecure)
        pinned = dict(target.options)
        if is_rtsp(url) and "tls_verify" not in options:
            pinned.pop("verifyhost", None)  # the rtsp demuxer takes it only to verify
        options = {**options, **pinned}
        if ca_file and "ca_file" in options and not Path(ca_file).is_file():
            # Fail closed, and say it: FFmpeg would only say the certificate failed verification.
            message = (
                f"the CA file of source.pull.tls.caSecretRef is missing in the ingest Pod ({ca_file}): does the "
                "Secret exist with that key?"
            )
            return PullFailure(url_index=index, url=url, kind="failed", message=message)
        try:
            credentials = read_credentials(self.config) if is_rtsp(url) else None
        except CredentialsUnreadable as e:
            return PullFailure(url_index=index, url=url, kind="credentials-unreadable", message=str(e))
        if credentials is None:
            return self.new_session(f"pull-{index}", target.url, options)
        for secret in credentials.secrets():
            self.redact.add(secret)
        fifo = self.private_dir / f"pull-{time.monotonic_ns()}.args"
        return self.new_session(f"pull-{index}", credentialed_url(target.url, credentials), options, args_file=fifo)

    async def screenshot_loop(self) -> None:
        interval = self.config.screenshots.interval_seconds
        feed = f"http://{self.loopback_host}:{self.internal_port}{FEED_PATH}"
        while not self.stopping.is_set():
            if self.on_air_live:
                tmp = self.media_dir / "screenshot.tmp.jpg"
                argv = self.feed_access.ffmpeg_argv(screenshot_command(feed, tmp), feed)
                shot = FfmpegProcess("screenshot", argv, self.redact, log)
                await shot.start()
                rc: int | None
                try:
                    rc = await asyncio.wait_for(shot.wait(), timeout=10)
                except TimeoutError:
                    rc = await shot.stop()
                if rc == 0 and tmp.exists():
                    tmp.replace(self.screenshot)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=interval if self.on_air_live else 0.5)

    # --- HTTP and the run ----------------------------------------------------------------------------
    def apps(self, handlers: asyncio.AbstractEventLoop | None = None) -> tuple[web.Application, web.Application]:
        """The public face (playback, WHIP, WHEP, the player) and the internal one (feeds, status,
        metrics, viewers, the overlay switch, the player's settings, the backup uplink): two listeners,
        docs/design/surfaces.md. Each route group gets the parts it serves (routes.py), wired here once.
        `handlers`: the loop the public face's route handlers run on when it is served on a loop of
        its own (public_thread.py); None: where it is served."""
        config, gate = self.config, self.playback

        def ready() -> bool:
            return self.accepting

        # Every public route goes through the playback gate (signed or public), with CORS for players
        # on other origins; beside them only the probes (a load balancer's health check).
        https = https_only(bool(config.publish_over_http), gate.trusted)
        on_worker = [handlers_on(handlers, self.caps.held)] if handlers is not None else []
        public = public_app(ready, self.caps.public_middleware, [https, *on_worker])
        add_webrtc_routes(public, media_prefixes(config), self.webrtc, gate.guard, gate.client)
        add_playback_routes(
            public, config, gate, self.served, self.screenshot, self.webrtc.ice_servers, self.page_settings
        )
        # What the operator and the stream's own workers read and send: nothing here is playback, so
        # no CORS (a web page never reads it) and no playback gate (none of it is reachable from
        # outside the cluster's pod network: an internal ClusterIP Service carries it). Every route
        # but the probes and /metrics asks for the stream's worker credential, the loopback relay
        # feed too (loopback is the whole node's with worker.hostNetwork).
        guard = credential_required(self.credential)
        internal = worker_app(self.status, ready, self.registry, guard)
        add_feed_routes(internal, self.served, self.caps)
        if self.on_air.relays:
            add_relay_routes(internal, self.on_air, self.loopback_host)
        add_viewers_route(internal, gate)
        add_switch_route(internal, config, self.read_key, self.overlays)
        add_player_settings_route(internal, self.page_settings)
        return public, internal

    def stop(self) -> None:
        """SIGTERM/SIGINT: stop every session and the HTTP face."""
        self.stopping.set()

    async def run(self) -> None:
        install_token_path_filter()  # logging is set up by now (worker_main)
        shutil.rmtree(self.sessions_dir, ignore_errors=True)
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.private_dir, ignore_errors=True)
        self.private_dir.mkdir(mode=0o700, parents=True)
        # The public face on a loop of its own: viewers' requests, and floods of them, are read,
        # refused and answered there, never queued before the feed (public_thread.py).
        public_loop = LoopThread("public-http")
        public, internal = self.apps(asyncio.get_running_loop())
        ports = self.config.ports
        try:
            runner = await public_loop.run(serve_public(public, self.config.bind_address, ports.http, self.caps))
        except BaseException:
            public_loop.stop()
            raise
        internal_runner = await serve(internal, self.config.bind_address, ports.internal)
        self.http_port = runner.addresses[0][1] if ports.http == 0 else ports.http
        self.internal_port = internal_runner.addresses[0][1] if ports.internal == 0 else ports.internal
        push = self.config.source.push
        loops = [self.push_loop() if push is not None else self.pull_loop(), self.silence_watch()]
        if push is not None and {"rtmp", "rtmps"} & set(push.protocols) and self.config.stream_key_file:
            self.read_key()  # the key joins the redactor before the front can log a line
            self.rtmp = RtmpFront(self.config, self.rtmp_admit, self._rtmp_refused, self.redact, log)
            loops.append(self.rtmp.run(self.stopping))
        loops.append(self.on_air.run(self.stopping))
        loops.append(self.webrtc.run(self.stopping))
        if self.config.primary_url and push is not None:  # a backup: its feed goes to the primary when asked
            stable = (push.failback or Failback()).stable_seconds
            offer = BackupOffer(
                self.config.primary_url, self.config.stream, stable, self.read_key, self.credential.header, log
            )
            loops.append(offer.run(self.stopping, lambda: self.feed, lambda: self.live))
        if self.config.screenshots.enabled:
            loops.append(self.screenshot_loop())
        tasks = [asyncio.create_task(c) for c in loops]
        if self.rtmp is not None and not await self.rtmp.wait_listening():
            log.error("the RTMP front is not listening: %s", self.rtmp.error)  # not ready until it is
        self.listening = True
        try:
            await self.stopping.wait()
        finally:
            for s in [*self.listeners, *(s for s in (self.standby, self.current) if s is not None)]:
                await s.process.stop()
            await self.on_air.stop()
            await self.webrtc.stop()
            for t in tasks:
                t.cancel()
            self.feed.end_session()
            await public_loop.run(runner.cleanup())
            public_loop.stop()
            await internal_runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    what = "Take one publisher or pull a source; serve HLS, a screenshot and the live feed."
    return worker_main(argv, "ingest", CONFIG_ENV, IngestConfig.model_validate_json, IngestWorker, what)

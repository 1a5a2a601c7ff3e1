"""The ingest worker: takes one publisher (RTMP and RTMPS through the key-checking front,
rtmp_front.py; SRT with the key as passphrase; or WHIP: webrtc/) or pulls from origins round-robin,
one live session at a time; serves HLS (and DASH) with the DVR window, a screenshot every N s, the
live feed (routes.py) and WHEP.

    streamops worker ingest        (config: env STREAMOPS_INGEST_CONFIG or --config FILE, JSON)

`IngestWorker` wires the parts, one job each: sessions.py (the own sessions, the silence watch),
rtmp_sessions.py (the RTMP front's admission, the standby), push_loop.py and pull_loop.py (the
listeners, the pull round-robin), on_air.py (whose media is served) and outputs.py (the switch to
it, playlists, the screenshot), http_faces.py, telemetry.py (metrics, status); then runs them.
Why: docs/design/ingest-robustness.md (standby listener, silence watch), backup-failover.md.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from streamops.api.livestream_media import Failback
from streamops.contract.ingest import CONFIG_ENV, FEED_PATH, IngestConfig, IngestStatus
from streamops.contract.playback_token import is_trusted
from streamops.contract.worker_credential import CredentialCheck
from streamops.media.feed_access import FeedAccess
from streamops.media.ingest.backup_link import BackupOffer
from streamops.media.ingest.commands import relay_input
from streamops.media.ingest.early_refusal import serve_public
from streamops.media.ingest.encrypted_hls import stream_key_ring
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.handover import Handover
from streamops.media.ingest.held_requests import held_requests
from streamops.media.ingest.http_faces import faces
from streamops.media.ingest.load_caps import RATE_PER_CLIENT, RATE_TOTAL, Limits, LoadCaps
from streamops.media.ingest.on_air import RELAY_FEED_PATH, OnAir
from streamops.media.ingest.outputs import Outputs
from streamops.media.ingest.overlay_switch import SwitchedOverlays
from streamops.media.ingest.playback_access import PlaybackGate, install_token_path_filter
from streamops.media.ingest.player_settings import PageSettings
from streamops.media.ingest.public_thread import LoopThread
from streamops.media.ingest.pull_loop import PullLoop
from streamops.media.ingest.push_loop import PushListeners
from streamops.media.ingest.readers import Readers
from streamops.media.ingest.rtmp_front import RtmpFront
from streamops.media.ingest.rtmp_sessions import RtmpSessions
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.session import LiveMeter, Session, SessionEvents
from streamops.media.ingest.sessions import OwnSessions
from streamops.media.ingest.telemetry import Telemetry
from streamops.media.ingest.webrtc.runner import WebRtcRunner
from streamops.media.ingest.worker_http import serve
from streamops.media.worker_process import utc_now, worker_main
from streamops.redaction import Redactor

log = logging.getLogger("streamops.ingest")
RELEASE_GRACE_SECONDS = 5.0  # a session's FFmpeg writes its last segment after SIGTERM within this


class IngestWorker:
    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        media_dir = Path(config.media_dir)
        self.sessions_dir = media_dir / "sessions"
        # The SRT listener's and the RTMP sessions' FIFOs (never served: a dot name; mode 0700).
        self.private_dir = media_dir / ".private"
        self.redact = Redactor()
        # The stream's worker credential: what the internal face asks for, and what this worker's
        # own feed readers (screenshot, WHEP) and a backup's uplink present.
        self.credential = CredentialCheck(config.credential_file)
        self.feed_access = FeedAccess(self.credential)
        self.feed = FeedHub()  # the own session's feed
        self.transcoded_feed = FeedHub()
        # What the media routes serve: the hubs above, or a relay's of the backup's feed, and that
        # session's HLS (on_air.py decides, outputs.go_on_air switches).
        self.served = ServedMedia(self.feed, self.transcoded_feed)
        self.on_air = OnAir(self, relays=config.role == "primary" and config.source.push is not None, log=log)
        self.meter = LiveMeter()
        self.worker_started_at = utc_now()  # the overlay renderer's reports are due some time after
        self.overlays = SwitchedOverlays(config, log)
        self.page_settings = PageSettings(log)  # the player page's projection (POST /player-settings)
        self.stopping = asyncio.Event()
        self.rtmp: RtmpFront | None = None
        self.listening = False  # the listeners (push) or the pull loop are up: see `accepting`
        # Where the HTTP faces listen (the ports bound, once `run` has: 0 in a test's config picks one).
        self.http_port, self.internal_port = config.ports.http, config.ports.internal
        self.telemetry = Telemetry(self)  # its gauges read the parts below at each scrape
        self.registry = self.telemetry.registry
        self.outputs = Outputs(
            config, self.served, self.meter, self.sessions_dir, self._running, self._on_air_changed, log
        )
        feeds = (self.feed, self.transcoded_feed)
        self.sessions = OwnSessions(
            config,
            self.sessions_dir,
            self.redact,
            feeds,
            self.on_air,
            self.meter,
            self.telemetry.m_sessions,
            self._on_air_changed,
            self.outputs.captions,
            log,
        )
        self.pull = PullLoop(config, self.sessions, self.private_dir, self.redact, log)
        self.releasing = False  # a handover's predecessor takes no media any more (handover.py)
        self.holding = False  # a handover's successor takes none until its predecessor released
        self.rtmp_sessions = RtmpSessions(
            self.sessions,
            self.private_dir,
            lambda: self.rtmp,
            lambda: self.pull.active and not self.releasing and not self.holding,
            self.redact,
            log,
            taking_over=self.taking_over,
        )
        self.push = PushListeners(
            config, self.sessions, self.rtmp_sessions, self.private_dir, self.read_key, self.redact, log
        )
        labels = self.telemetry.labels
        self.webrtc = WebRtcRunner(self, self.private_dir, self.registry, labels, self.redact, log)
        # SRT and RTSP for readers: a child reading this worker's feed (readers.py), when the stream serves them.
        self.readers = (
            Readers(config, lambda: (self.loopback_host, self.internal_port), self.registry, labels, self.redact, log)
            if config.readers is not None
            else None
        )
        readers = self.readers
        self.playback = PlaybackGate(
            config,
            self.registry,
            labels,
            log,
            lambda: self.webrtc.whep_viewers,
            reader_viewers=lambda protocol: readers.viewers[protocol] if readers else 0,
        )
        # An encrypted stream's content keys: the public face serves with them, a handover hands them on.
        self.key_ring = stream_key_ring(config, self.outputs.continuity, self.playback)
        continuity = self.outputs.continuity
        self.handover = Handover(continuity, self, media_dir / "handover", self.credential.header, log, self.key_ring)
        if readers is not None:  # its callers are asked about by the gate's rules (readers.py)
            readers.rules = lambda: self.playback.rules
        trusted, rates = self.playback.trusted, config.request_rates
        self.caps = LoadCaps(
            self.registry,
            labels,
            Limits(
                rate_per_client=(rates and rates.per_client) or RATE_PER_CLIENT,
                rate_total=(rates and rates.total) or RATE_TOTAL,
            ),
            client=self.playback.client,
            held=held_requests(config.dash_low_latency),
            proxy=lambda peer: is_trusted(peer, trusted),
        )

    # --- what the parts read of each other (on_air.OnAirHost, webrtc's hosts, the faces, telemetry) ---
    @property
    def current(self) -> Session | None:
        return self.sessions.current

    @property
    def live(self) -> bool:
        return self.sessions.live

    @property
    def accepting(self) -> bool:
        """Readiness: publishers are accepted (push) or the pull runs. Not `live`: the Service must
        route to an ingest before media flows, or no encoder outside could ever make it live."""
        front_up = self.rtmp is None or self.rtmp.listening.is_set()
        # A released predecessor is not ready: the Service sends encoders and viewers to its successor.
        taking = self.pull.active and not self.releasing
        return self.listening and front_up and taking and not self.stopping.is_set()

    @property
    def on_air_live(self) -> bool:
        """What is served flows: the own session's media, or a relay's of the backup's."""
        return self.on_air.sending(time.monotonic())

    @property
    def loopback_host(self) -> str:
        """Where this worker reaches its own HTTP face."""
        bind = self.config.bind_address
        return "127.0.0.1" if bind in ("", "0.0.0.0", "::") else bind

    def status(self) -> IngestStatus:
        return self.telemetry.status()

    def new_session(
        self,
        kind: str,
        url: str,
        options: dict[str, Any],
        secret_input: tuple[Path, str] | None = None,
        audio_codec: str = "copy",
    ) -> Session:
        return self.sessions.new_session(kind, url, options, secret_input, audio_codec)

    def go_on_air(self, session: Session, feed: FeedHub, transcoded: FeedHub) -> None:
        self.outputs.go_on_air(session, feed, transcoded)

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
            on_captions=self.outputs.captions,
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

    async def stop_taking_media(self) -> None:
        """A handover's release (handover.py): no new publisher or pull, the running sessions
        stopped (SIGTERM: FFmpeg writes its last segment and playlist; the RTMP front cuts each
        session's publisher, SRT's connection closes with its FFmpeg, WHIP's is ended); returns
        once they ended."""
        self.releasing = True
        # A relay of the backup on air (a planned switchover) ends with the own sessions.
        await asyncio.gather(
            self.on_air.close(True), self._stop_sessions("the stream is handed over to another ingest")
        )

    def taking_over(self) -> bool:
        return self.handover.taking_over()

    async def hold_media(self, held: bool) -> None:
        """A handover's successor takes no media while it follows its predecessor (a publisher is
        refused and retries through the Service, an RTMP one held once it caught up: RtmpSessions.
        admit; a pull waits), so that only one of them numbers
        new segments; a session it had on air already is stopped and what it served forgotten (the
        predecessor's window replaces it). Taken again once the predecessor released."""
        self.holding = held
        self.push.closed = self.pull.held = held or self.releasing
        await self.on_air.close(held or self.releasing)  # nor the backup's feed, while it follows
        if not held:
            self.webrtc.whip.reopen()  # an offer held meanwhile goes on now
            self.rtmp_sessions.activated()  # and a publisher held meanwhile is taken now
            return
        had_own = self.outputs.continuity.dir is not None
        await self._stop_sessions("the stream is being handed over to this ingest")
        if had_own:
            self.outputs.continuity.reset()

    async def _stop_sessions(self, why: str) -> None:
        self.push.closed = True
        self.pull.held = True
        standby, current = self.rtmp_sessions.standby, self.sessions.current
        running = [*self.sessions.listeners, *(s for s in (standby, current) if s is not None)]
        await asyncio.gather(
            self.webrtc.whip.close(why), *(s.process.stop(grace=RELEASE_GRACE_SECONDS) for s in running)
        )
        while any(s.started and not s.ended for s in running):  # its packagers and on_ended
            await asyncio.sleep(0.05)

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

    def _running(self) -> Iterable[Session | None]:
        """The sessions that may still serve or become live (their directories stay)."""
        whip = self.webrtc.whip.session
        return (self.sessions.current, self.rtmp_sessions.standby, self.on_air.relay, whip, *self.sessions.listeners)

    def _on_air_changed(self) -> None:
        self.webrtc.on_air_changed()

    # --- HTTP and the run ----------------------------------------------------------------------------
    def apps(self, handlers: asyncio.AbstractEventLoop | None = None) -> tuple[web.Application, web.Application]:
        """The public face and the internal one (http_faces.py)."""
        return faces(self, handlers)

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
        push, stopping = self.config.source.push, self.stopping
        loops = [self.push.run(stopping) if push is not None else self.pull.run(stopping)]
        loops.append(self.sessions.silence_watch(stopping))
        if push is not None and {"rtmp", "rtmps"} & set(push.protocols) and self.config.stream_key_file:
            self.read_key()  # the key joins the redactor before the front can log a line
            admit, refused = self.rtmp_sessions.admit, self.telemetry.rtmp_refused
            mux_failed = self.rtmp_sessions.mux_failed
            self.rtmp = RtmpFront(self.config, admit, refused, self.redact, log, on_mux=mux_failed)
            loops.append(self.rtmp.run(stopping))
        loops.append(self.on_air.run(stopping))
        loops.append(self.outputs.continuity_loop(stopping))
        loops.append(self.webrtc.run(stopping))
        if self.readers is not None:
            loops.append(self.readers.run(stopping))
        if self.config.primary_url and push is not None:  # a backup: its feed goes to the primary when asked
            stable = (push.failback or Failback()).stable_seconds
            offer = BackupOffer(
                self.config.primary_url, self.config.stream, stable, self.read_key, self.credential.header, log
            )
            loops.append(offer.run(stopping, lambda: self.feed, lambda: self.live))
        if self.config.screenshots.enabled:
            feed = f"http://{self.loopback_host}:{self.internal_port}{FEED_PATH}"
            shots = self.outputs.screenshot_loop(
                feed, self.feed_access, lambda: self.on_air_live, self.redact, stopping
            )
            loops.append(shots)
        tasks = [asyncio.create_task(c) for c in loops]
        if self.rtmp is not None and not await self.rtmp.wait_listening():
            log.error("the RTMP front is not listening: %s", self.rtmp.error)  # not ready until it is
        self.listening = True
        try:
            await stopping.wait()
        finally:
            standby, current = self.rtmp_sessions.standby, self.sessions.current
            for s in [*self.sessions.listeners, *(s for s in (standby, current) if s is not None)]:
                await s.process.stop()
            await self.on_air.stop()
            await self.handover.stop()
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

"""What the ingest worker reports: the catalogue's ingest metrics (contract/metrics.py), read from
its parts at each scrape, and its status (IngestStatus: GET /status, which the operator reads).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from streamops.contract.ingest import HlsWriter, IngestConfig, IngestStatus, IngestViewers
from streamops.media.ingest.commands import muxed_hls_variants, renditions
from streamops.media.ingest.handover import Handover
from streamops.media.ingest.on_air import OnAir
from streamops.media.ingest.overlay_switch import SwitchedOverlays
from streamops.media.ingest.playback_access import PlaybackGate
from streamops.media.ingest.player_settings import PageSettings
from streamops.media.ingest.pull_loop import PullLoop
from streamops.media.ingest.readers import Readers
from streamops.media.ingest.rtmp_front import RtmpFront
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.session import LiveMeter, LiveRates
from streamops.media.ingest.sessions import OwnSessions
from streamops.media.ingest.webrtc.runner import WebRtcRunner
from streamops.media.overlay.reports import overlay_reports
from streamops.media.worker_metrics import counter, read_counter, read_gauge, worker_registry
from streamops.media.worker_process import utc_now


class Reported(Protocol):
    """The worker's parts the telemetry reads (worker.IngestWorker)."""

    @property
    def config(self) -> IngestConfig: ...

    @property
    def sessions(self) -> OwnSessions: ...

    @property
    def pull(self) -> PullLoop:
        """Whether the stream is active, and the last pull failure."""
        ...

    @property
    def served(self) -> ServedMedia: ...

    @property
    def meter(self) -> LiveMeter: ...

    @property
    def on_air(self) -> OnAir: ...

    @property
    def on_air_live(self) -> bool: ...

    @property
    def rtmp(self) -> RtmpFront | None: ...

    @property
    def webrtc(self) -> WebRtcRunner: ...

    @property
    def playback(self) -> PlaybackGate: ...

    @property
    def readers(self) -> Readers | None:
        """SRT and RTSP for readers, when the stream serves them."""
        ...

    @property
    def overlays(self) -> SwitchedOverlays: ...

    @property
    def page_settings(self) -> PageSettings: ...

    @property
    def handover(self) -> Handover:
        """Its part in a handover (/status.handover)."""
        ...

    @property
    def worker_started_at(self) -> datetime:
        """The overlay renderer's reports are due some time after."""
        ...


class Telemetry:
    def __init__(self, parts: Reported) -> None:
        self.parts = parts
        self.registry = registry = worker_registry()
        self.labels = labels = {"stream": parts.config.stream, "role": parts.config.role}

        def read(name: str, value: Callable[[], float]) -> None:
            read_gauge(name, "ingest", registry, labels, value)

        read("streamops_ingest_live", lambda: 1 if parts.sessions.live else 0)
        read("streamops_ingest_frame_rate", lambda: self.live_rates().frame_rate or 0)
        read("streamops_ingest_bitrate_bits_per_second", lambda: self.live_rates().bitrate or 0)
        read("streamops_ingest_video_width_pixels", lambda: parts.served.facts.width or 0)
        read("streamops_ingest_video_height_pixels", lambda: parts.served.facts.height or 0)
        read("streamops_ingest_keyframe_interval_seconds", lambda: parts.served.feed.keyframe_interval)
        read("streamops_ingest_segment_target_seconds", lambda: parts.config.hls.segment_seconds)
        read("streamops_ingest_playlist_updated_timestamp_seconds", self.playlist_updated_at)
        read("streamops_ingest_transcoding_speed_ratio", lambda: self.live_rates().transcoding_speed or 0)
        read("streamops_ingest_feed_consumers", lambda: parts.served.feed.consumers)
        self.m_sessions = counter("streamops_ingest_sessions_total", "ingest", registry).labels(**labels)
        refused = "streamops_ingest_publishers_refused_total"
        read_counter(refused, "ingest", registry, labels, lambda: parts.rtmp.refused if parts.rtmp else 0)
        self.m_rtmp_refused = counter("streamops_ingest_rtmp_refused_total", "ingest", registry)

    def rtmp_refused(self, reason: str, count: int) -> None:
        self.m_rtmp_refused.labels(**self.labels, reason=reason).inc(count)

    def live_rates(self) -> LiveRates:
        """Frame rate, speed and bitrate of what is on air (none while nothing is)."""
        return self.parts.meter.rates() if self.parts.on_air_live else LiveRates()

    def playlist_updated_at(self) -> float:
        """Unix time the HLS playlist served first (the top rendition's) last gained a segment, 0
        before the first: the LL-HLS packager's, else the time FFmpeg last rewrote its playlist
        (its hls muxer does so as each segment completes)."""
        config, served = self.parts.config, self.parts.served
        ladder = renditions(config)
        top = ladder[0].name if ladder else ""
        packager = served.packagers.get(top)
        if packager is not None:
            return packager.segment_completed_at
        muxed = muxed_hls_variants(config)
        if served.dir is None or not muxed:
            return 0.0
        try:
            return (served.dir / muxed[0][0] / top / "index.m3u8").stat().st_mtime
        except OSError:
            return 0.0

    def viewers(self) -> IngestViewers:
        """The HTTP sessions in the window, WHEP's peers, and the readers' SRT and RTSP connections."""
        parts = self.parts
        report = parts.playback.viewers.report(parts.webrtc.whep_viewers)
        if parts.readers is not None:
            counts = report.counts.model_copy(update=parts.readers.viewers)
            report = report.model_copy(update={"counts": counts})
        return report

    def hls_writer(self) -> HlsWriter | None:
        """Who writes the live session's HLS: the RTMP front (Session.front_hls) or its FFmpeg."""
        sessions = self.parts.sessions
        if sessions.current is None or not sessions.live:
            return None
        return "front" if sessions.current.front_hls else "ffmpeg"

    def status(self) -> IngestStatus:
        parts, sessions, rtmp = self.parts, self.parts.sessions, self.parts.rtmp
        rates = self.live_rates()
        facts = parts.served.facts
        return IngestStatus(
            live=sessions.live,
            active=parts.pull.active,
            deactivated_reason=parts.pull.deactivated_reason,
            pull_failure=None if sessions.live else parts.pull.failure,
            source=sessions.current.kind if sessions.current and sessions.live else None,
            active_ingest=parts.on_air.active_ingest(parts.config.role, time.monotonic()),
            backup_wanted=parts.on_air.wants_backup(time.monotonic()),
            started_at=sessions.started_at,
            finished_at=sessions.finished_at,
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
            feed_consumers=parts.served.feed.consumers,
            refused_publishers=rtmp.refused if rtmp else 0,
            tls_certificate_sha256=rtmp.fingerprint if rtmp else None,
            tls_error=rtmp.tls_error if rtmp else None,
            webrtc=parts.webrtc.status(),
            viewers=self.viewers(),
            feed_cache_bytes=parts.served.feed.cache_bytes,
            hls_writer=self.hls_writer(),
            transcoded_qualities=[r.name for r in renditions(parts.config)],
            sessions=sessions.history.report(time.monotonic()),
            overlays=overlay_reports(parts.config, utc_now(), parts.worker_started_at),
            overlays_enabled=parts.overlays.enabled,
            projection=parts.page_settings.current.projection,
            player_settings=parts.page_settings.current.digest(),
            handover=parts.handover.report(),
        )

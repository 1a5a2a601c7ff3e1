"""The ingest's recent publish sessions (IngestStatus.sessions): when each started and ended, how the
media came, what it was, and its average and peak bitrate. The bitrates count the bytes of the
feed (FFmpeg's MPEG-TS copy of the source), as the live `bitrate` does (session.LiveMeter).
Why: docs/design/session-history.md."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from streamops.api.livestream_media import SESSIONS_KEPT, IngestRole, PublishSession, PublishSessionProtocol
from streamops.contract.worker import utc_seconds
from streamops.media.ffmpeg import SourceFacts

PEAK_WINDOW_SECONDS = 1.0  # peak bitrate: the most bytes in any window this long


def publish_protocol(kind: str, tls: bool = False) -> PublishSessionProtocol | None:
    """A session's kind (rtmp, srt, whip, pull-<n>) as status.sessions says it; rtmp over the TLS
    listener is rtmps."""
    if kind.startswith("pull"):
        return "pull"
    if kind == "rtmp":
        return "rtmps" if tls else "rtmp"
    return {"srt": "srt", "whip": "whip"}.get(kind)  # type: ignore[return-value]


@dataclass
class OpenSession:
    """The session on air: its counters, monotonic seconds."""

    started_at: datetime
    started: float
    protocol: PublishSessionProtocol | None
    facts: SourceFacts
    bytes: int = 0
    frames: int = 0
    window_start: float = 0.0
    window_bytes: int = 0
    peak: int | None = None
    ended_at: datetime | None = None
    ended: float | None = None

    def add_bytes(self, now: float, count: int) -> None:
        self.bytes += count
        if now - self.window_start >= PEAK_WINDOW_SECONDS:
            # A window closes at the first chunk after it is a second long: its rate, over its real
            # length (the feed comes in 20 ms batches, so a window is 1.00..1.02 s).
            rate = round(self.window_bytes * 8 / (now - self.window_start))
            self.peak = rate if self.peak is None else max(self.peak, rate)
            self.window_start, self.window_bytes = now, 0
        self.window_bytes += count

    def record(self, role: IngestRole, now: float) -> PublishSession:
        seconds = (self.ended if self.ended is not None else now) - self.started
        facts = self.facts
        return PublishSession(
            started_at=self.started_at,
            ended_at=self.ended_at,
            ingest=role,
            protocol=self.protocol,
            video_codec=facts.video_codec,
            audio_codec=facts.audio_codec,
            width=facts.width,
            height=facts.height,
            frame_rate=round(self.frames / seconds, 2) if seconds >= 1 and self.frames else None,
            average_bitrate=round(self.bytes * 8 / seconds) if seconds >= 1 else None,
            peak_bitrate=self.peak,
        )


@dataclass
class SessionHistory:
    """The last SESSIONS_KEPT sessions of one ingest, the open one last."""

    role: IngestRole
    sessions: deque[OpenSession] = field(default_factory=lambda: deque(maxlen=SESSIONS_KEPT))

    @property
    def current(self) -> OpenSession | None:
        last = self.sessions[-1] if self.sessions else None
        return last if last is not None and last.ended is None else None

    def start(self, now: float, wall: datetime, protocol: PublishSessionProtocol | None, facts: SourceFacts) -> None:
        self.end(now, wall)
        self.sessions.append(OpenSession(utc_seconds(wall), now, protocol, facts, window_start=now))

    def media(self, now: float, count: int) -> None:
        if (session := self.current) is not None:
            session.add_bytes(now, count)

    def frames(self, frames: int) -> None:
        """FFmpeg's cumulative frame count of the session (its -progress)."""
        if (session := self.current) is not None:
            session.frames = frames

    def end(self, now: float, wall: datetime) -> None:
        if (session := self.current) is not None:
            session.ended, session.ended_at = now, utc_seconds(wall)

    def report(self, now: float) -> list[PublishSession]:
        return [s.record(self.role, now) for s in self.sessions]

"""The WHEP feeder: while a source other than a WHIP publisher is on air, an FFmpeg reads the served
live feed (/feed on loopback: it starts at a keyframe and follows a switch to the backup) and sends
it as RTP into the component's input ports for WHEP viewers (commands.whep_feed_command). Before
each start the feed is probed: WebRTC players take no B-frames (and H.264 only), so such a source is
encoded once more (bFrames: transcode) or not fed at all (refuse: `problem` says why). A WHIP
publisher's media reaches the viewers inside the component, without FFmpeg.
Why: docs/design/webrtc.md ("WHEP for other sources", "B-frames").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from streamops.api.livestream_media import BFramesPolicy
from streamops.media.feed_access import FeedAccess
from streamops.media.ffmpeg import FfmpegProcess, child_environment
from streamops.media.ingest.on_air import OnAir
from streamops.media.ingest.session import LiveMeter
from streamops.media.ingest.webrtc.commands import (
    FEED_PROBE_OPTIONS,
    WhepTranscode,
    feed_probe_command,
    whep_feed_command,
)
from streamops.media.ingest.webrtc.component import Component
from streamops.redaction import Redactor

B_FRAMES_REFUSED = "the source has B-frames, which WebRTC players cannot play; playback.webrtc.bFrames is refuse"
PROBE_TIMEOUT_SECONDS = 8.0
IDLE_SECONDS = 0.5  # how late a change is seen when no hook says so
RESTART_SECONDS = 1.0  # after the feeder's FFmpeg ended by itself (the feed ended, a switch)
DEFAULT_AUDIO_BPS = 128_000
DEFAULT_VIDEO_KBPS = 2500
BITRATE_WAIT_SECONDS = 3.0  # the live meter needs ≈1.5 s of a session before it says anything


@dataclass(frozen=True)
class FeedFacts:
    """What the probe of the feed found (ffprobe's `streams`)."""

    video_codec: str | None = None
    b_frames: bool = False
    audio: bool = False
    audio_bps: int | None = None

    @classmethod
    def parse(cls, probe: dict[str, Any]) -> FeedFacts:
        streams = [s for s in probe.get("streams", []) if isinstance(s, dict)]
        video = next((s for s in streams if s.get("codec_type") == "video"), None)
        audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
        bps = str(audio.get("bit_rate", "")) if audio else ""
        return cls(
            video_codec=video.get("codec_name") if video else None,
            b_frames=bool(video and int(video.get("has_b_frames") or 0) > 0),
            audio=audio is not None,
            audio_bps=int(bps) if bps.isdigit() else None,
        )


def playability_problem(facts: FeedFacts, policy: BFramesPolicy) -> str | None:
    """Why WHEP viewers get nothing of this source (refuse), or None."""
    if facts.video_codec is None:
        return "the source has no video"
    if policy == "refuse" and facts.b_frames:
        return B_FRAMES_REFUSED
    if policy == "refuse" and facts.video_codec != "h264":
        return f"the source's video is {facts.video_codec}, WebRTC players take H.264 only; bFrames is refuse"
    return None


def transcode_for(facts: FeedFacts, feed_bps: int | None) -> WhepTranscode | None:
    """The encode a source needs for WHEP (B-frames, or not H.264), at about the source's video
    bitrate (the feed's, less its audio); None: copied as it is."""
    if not facts.b_frames and facts.video_codec == "h264":
        return None
    if feed_bps is None:
        return WhepTranscode(DEFAULT_VIDEO_KBPS)
    video_bps = feed_bps - (facts.audio_bps or (DEFAULT_AUDIO_BPS if facts.audio else 0))
    return WhepTranscode(max(300, min(8000, round(video_bps / 1000))))


class WhepFeedHost(Protocol):
    """What the feeder reads of the worker (worker.IngestWorker)."""

    @property
    def on_air(self) -> OnAir: ...

    @property
    def on_air_live(self) -> bool: ...

    @property
    def meter(self) -> LiveMeter: ...

    @property
    def feed_access(self) -> FeedAccess:
        """What the feeder presents to the internal face's /feed (the stream's worker credential)."""
        ...


class WhepFeeder:
    def __init__(
        self,
        host: WhepFeedHost,
        component: Component,
        rtp_in: Callable[[], tuple[int, int]],
        policy: BFramesPolicy,
        redact: Redactor,
        log: logging.Logger,
    ) -> None:
        self.host, self.component, self.rtp_in, self.policy = host, component, rtp_in, policy
        self.redact, self.log = redact, log
        self.transcoded = False  # WebRtcStatus.whep_transcoded
        self.problem: str | None = None  # WebRtcStatus.whep_problem
        self._changed = asyncio.Event()

    def on_air_changed(self) -> None:
        """A session started or ended, or another one went on air: look again now."""
        self._changed.set()

    def _target(self) -> object | None:
        """The session whose feed viewers should get: the one on air, unless nothing flows or it is
        a WHIP publisher's (the component feeds those viewers itself)."""
        session = self.host.on_air.session
        if session is None or not self.host.on_air_live or session.kind == "whip":
            return None
        return session

    async def _pause(self, seconds: float = IDLE_SECONDS) -> None:
        """Until a hook says the session on air changed, or `seconds` (level-based: looked at again
        either way). The worker's stop cancels the feeder's task."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)
        self._changed.clear()

    async def _probe(self, feed_url: str) -> FeedFacts | None:
        process = await asyncio.create_subprocess_exec(
            *feed_probe_command(self.host.feed_access.ffconcat_input(feed_url, FEED_PROBE_OPTIONS)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_environment(),
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            self.log.info("probe of the feed for WHEP timed out")
            return None
        if process.returncode != 0:
            self.log.info("probe of the feed for WHEP failed: %s", self.redact(err.decode(errors="replace")[-300:]))
            return None
        try:
            return FeedFacts.parse(json.loads(out))
        except ValueError:
            return None

    async def _feed_bps(self, stopping: asyncio.Event) -> int | None:
        waited = 0.0
        while (bitrate := self.host.meter.rates().bitrate) is None and waited < BITRATE_WAIT_SECONDS:
            if stopping.is_set():
                return None
            await asyncio.sleep(0.25)
            waited += 0.25
        return bitrate

    async def run(self, stopping: asyncio.Event, feed_url: str) -> None:
        while not stopping.is_set():
            target = self._target()
            if target is None or not self.component.running:
                self.transcoded, self.problem = False, None
                await self._pause()
                continue
            facts = await self._probe(feed_url)
            if facts is None or self._target() is not target:
                await self._pause()
                continue
            self.problem = playability_problem(facts, self.policy)
            if self.problem is not None:
                self.transcoded = False
                self.log.warning("no WHEP playback of this source: %s", self.problem)
                while self._target() is target and not stopping.is_set():
                    await self._pause()
                continue
            transcode = transcode_for(facts, await self._feed_bps(stopping))
            self.transcoded = transcode is not None
            if transcode is not None:
                self.log.info("WHEP gets the source encoded again without B-frames (%d kbit/s)", transcode.video_kbps)
            argv = self.host.feed_access.ffmpeg_argv(
                whep_feed_command(feed_url, self.rtp_in(), facts.audio, transcode), feed_url
            )
            await self._feed(stopping, target, FfmpegProcess("whep-feed", argv, self.redact, self.log))

    async def _feed(self, stopping: asyncio.Event, target: object, process: FfmpegProcess) -> None:
        """Run the feeder until it ends by itself, or the source on air or the component changes."""
        generation = self.component.generation
        await process.start()
        try:
            while (
                process.running
                and self._target() is target
                and self.component.generation == generation
                and not stopping.is_set()
            ):
                await self._pause()
            ended_by_itself = not process.running
        finally:
            rc = await process.stop(grace=1)
        if ended_by_itself and not stopping.is_set():
            self.log.info("WHEP feeder ended (ffmpeg exit %s): %s", rc, process.last_error())
            await self._pause(RESTART_SECONDS)

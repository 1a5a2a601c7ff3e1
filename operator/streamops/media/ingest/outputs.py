"""What the worker serves of the session on air (on_air.py picks it): the switch to it (the feeds,
its HLS and DASH, its LL-HLS packagers), its multivariant playlists, and the screenshot taken of
the feed every N s. The routes read it all from `ServedMedia` per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from streamops.contract.ingest import IngestConfig
from streamops.media.feed_access import FeedAccess
from streamops.media.ffmpeg import FfmpegProcess
from streamops.media.ingest.commands import (
    PROGRESS_SECONDS,
    hls_variants,
    master_playlist,
    renditions,
    screenshot_command,
)
from streamops.media.ingest.continuity import Continuity
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.session import LiveMeter, Session
from streamops.media.ingest.wakes import until_set
from streamops.redaction import Redactor

CONTINUITY_SECONDS = 0.5  # how often the served HLS timelines read the session's playlists without viewers
# ... unless the on-air session's progress comes (every commands.PROGRESS_SECONDS): they read them
# then, at no wake of their own; a progress this late is missing, and the timer takes over.
PROGRESS_LATE_SECONDS = 2 * PROGRESS_SECONDS


class Outputs:
    def __init__(
        self,
        config: IngestConfig,
        served: ServedMedia,
        meter: LiveMeter,
        sessions_dir: Path,
        running: Callable[[], Iterable[Session | None]],
        on_air_changed: Callable[[], None],
        log: logging.Logger,
    ) -> None:
        """`running`: the sessions whose directories are in use (the others' are removed on a switch);
        `on_air_changed`: what is served changed (WebRTC's feeder follows it)."""
        self.config, self.served, self.meter, self.sessions_dir = config, served, meter, sessions_dir
        self.running, self.on_air_changed, self.log = running, on_air_changed, log
        self.continuity = Continuity(config, served, log)
        self._served_dirs: list[Path] = []  # session directories holding served segments at the last prune
        self.screenshot = Path(config.media_dir) / "screenshot.jpg"

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
        # The served HLS goes on from the session before (continuity.py): its last segments taken,
        # the new one's numbered after them.
        self.continuity.go_on_air(session.dir, session.packagers)
        served.dir, served.packagers, served.facts = session.dir, session.packagers, session.facts
        self.on_air_changed()
        self.prune(everything=True)

    def prune(self, everything: bool = False) -> None:
        """Remove the directories of sessions that neither run nor hold a segment still served:
        at a switch every such one; else only those whose last served segment left the window (a
        session starting, say a WHIP publisher's, has a directory before it is anyone's)."""
        used = self.continuity.directories_in_use()
        in_use = {s.dir for s in (*self.running(),) if s is not None} | used
        if self.served.dir is not None:
            in_use.add(self.served.dir)
        candidates = list(self.sessions_dir.iterdir()) if everything else self._served_dirs
        for directory in candidates:
            if directory not in in_use:
                shutil.rmtree(directory, ignore_errors=True)
        self._served_dirs = [d for d in used if d.parent == self.sessions_dir]

    async def continuity_loop(self, stopping: asyncio.Event) -> None:
        """The served timelines take each segment as it is written, viewers or not (go_on_air takes
        a session's last ones at a switch), and earlier sessions' files go as they leave the window."""
        progress = self.meter.added
        while not stopping.is_set():
            progress.clear()
            self.continuity.refresh_all()
            self.prune()
            paced = self.meter.reporting(time.monotonic(), PROGRESS_LATE_SECONDS)
            await until_set((stopping, progress), PROGRESS_LATE_SECONDS if paced else CONTINUITY_SECONDS)

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

    def captions(self, session: Session) -> None:
        """Captions that came after the session started: declared from now on, for players that load
        the multivariant playlist from now on (docs/design/captions.md)."""
        self.log.info("%s session carries closed captions", session.kind)
        if self.served.dir == session.dir:
            self.write_master_playlists(session)

    async def screenshot_loop(
        self,
        feed: str,
        feed_access: FeedAccess,
        on_air_live: Callable[[], bool],
        redact: Redactor,
        stopping: asyncio.Event,
    ) -> None:
        """A frame of `feed` (the internal face's, read with the worker credential) every interval
        while what is on air flows, renamed into place."""
        interval = self.config.screenshots.interval_seconds
        while not stopping.is_set():
            if on_air_live():
                tmp = self.screenshot.with_name("screenshot.tmp.jpg")
                argv = feed_access.ffmpeg_argv(screenshot_command(feed, tmp), feed)
                shot = FfmpegProcess("screenshot", argv, redact, self.log)
                await shot.start()
                rc: int | None
                try:
                    rc = await asyncio.wait_for(shot.wait(), timeout=10)
                except TimeoutError:
                    rc = await shot.stop()
                if rc == 0 and tmp.exists():
                    tmp.replace(self.screenshot)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=interval if on_air_live() else 0.5)

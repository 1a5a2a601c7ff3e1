"""What the ingest's media routes serve now: the feeds, the HLS and DASH directory and the LL-HLS
packagers of the session on air (the own one or the backup's relay: on_air.py decides). The worker
switches all of it at once when another session goes on air; the routes read it per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from streamops.media.ffmpeg import SourceFacts
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.llhls.packager import LlHlsPackager


class ServedMedia:
    def __init__(self, feed: FeedHub, transcoded_feed: FeedHub) -> None:
        self.feed = feed  # FEED_PATH
        self.transcoded_feed = transcoded_feed  # TRANSCODED_FEED_PATH
        self.dir: Path | None = None  # HLS and DASH of the session on air (or the last one); None before the first
        self.packagers: Mapping[str, LlHlsPackager] = {}  # its LL-HLS playlists, by rendition ("" without renditions)
        # What that session's source is (filled in as FFmpeg reports it): an AV1 source has no
        # MPEG-TS HLS to serve (docs/design/enhanced-rtmp.md).
        self.facts = SourceFacts()

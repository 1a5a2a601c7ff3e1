"""What is served of the session on air (outputs.Outputs) without FFmpeg: the switch to a session
(feeds, directory, facts, the other sessions' directories removed) and its multivariant playlists.
The sessions are stand-ins with what Outputs reads of one; the screenshot with FFmpeg:
tests/media/test_screenshots.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from streamops.contract.ingest import IngestConfig
from streamops.media.ffmpeg import SourceFacts
from streamops.media.ingest.commands import hls_variants
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.outputs import Outputs
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.session import LiveMeter, Session

LADDER = {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]}


@dataclass
class Publisher:
    dir: Path
    kind: str = "rtmp"
    closed_captions: bool = False
    facts: SourceFacts = field(default_factory=lambda: SourceFacts(video_codec="h264", width=640, height=360))
    packagers: dict[str, Any] = field(default_factory=dict)


@dataclass
class Served:
    outputs: Outputs
    served: ServedMedia
    running: list[Session]
    changes: list[str]


def outputs(tmp_path: Path, **config: Any) -> Served:
    ingest = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}, "mediaDir": str(tmp_path), **config})
    served, running, changes = ServedMedia(FeedHub(), FeedHub()), [], []
    (tmp_path / "sessions").mkdir()
    made = Outputs(
        ingest,
        served,
        LiveMeter(),
        tmp_path / "sessions",
        lambda: running,
        lambda: changes.append("on air changed"),
        logging.getLogger("test"),
    )
    return Served(made, served, running, changes)


def session(o: Served, name: str) -> Session:
    made = Publisher(o.outputs.sessions_dir / name)
    for variant, _ in hls_variants(o.outputs.config):
        (made.dir / variant).mkdir(parents=True)
    return cast(Session, made)


def test_a_session_going_on_air_is_what_is_served(tmp_path):
    o = outputs(tmp_path)
    own, relay = FeedHub(), FeedHub()
    standby, gone = session(o, "2-rtmp"), session(o, "1-srt")
    o.running.append(standby)
    on_air = session(o, "3-rtmp")
    o.outputs.go_on_air(on_air, own, relay)
    assert (o.served.feed, o.served.transcoded_feed) == (own, relay)
    assert (o.served.dir, o.served.facts) == (on_air.dir, on_air.facts) and o.changes == ["on air changed"]
    assert sorted(p.name for p in o.outputs.sessions_dir.iterdir()) == ["2-rtmp", "3-rtmp"], f"{gone.dir} removed"


def test_the_feed_served_before_ends_for_its_readers_and_goes_on(tmp_path):
    o = outputs(tmp_path)
    before = o.served.feed
    before.start_session()
    before.publish(b"\x47" + bytes(187))
    o.outputs.go_on_air(session(o, "1-rtmp"), FeedHub(), FeedHub())
    assert before.live and before.last_media_at is None, "its readers got EOF; it caches on, for a switch back"


def test_a_ladders_session_gets_its_multivariant_playlists(tmp_path):
    o = outputs(tmp_path, transcoding=LADDER)
    on_air = session(o, "1-rtmp")
    o.outputs.go_on_air(on_air, FeedHub(), FeedHub())
    for variant, _ in hls_variants(o.outputs.config):
        master = (on_air.dir / variant / "index.m3u8").read_text()
        assert "360p/index.m3u8" in master and "CLOSED-CAPTIONS=NONE" in master


def test_captions_rewrite_the_playlists_of_the_session_served_only(tmp_path):
    o = outputs(tmp_path, transcoding=LADDER)
    on_air, other = session(o, "1-rtmp"), session(o, "2-srt")
    o.outputs.go_on_air(on_air, FeedHub(), FeedHub())
    cast(Publisher, on_air).closed_captions = cast(Publisher, other).closed_captions = True
    o.outputs.captions(other)
    variant = hls_variants(o.outputs.config)[0][0]
    assert not (other.dir / variant / "index.m3u8").exists()
    o.outputs.captions(on_air)
    assert "TYPE=CLOSED-CAPTIONS" in (on_air.dir / variant / "index.m3u8").read_text()

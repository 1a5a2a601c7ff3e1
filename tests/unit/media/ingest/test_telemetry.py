"""What the ingest worker reports (telemetry.Telemetry): its status and metrics as its parts
change, read from a worker that never runs FFmpeg (sessions are stand-ins with what the parts read
of one). /status and /metrics over HTTP: test_worker.py; with real publishers: tests/media."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from prometheus_client import generate_latest
from streamops.contract.ingest import IngestConfig, PullFailure
from streamops.media.ffmpeg import SourceFacts
from streamops.media.ingest.commands import muxed_hls_variants, session_dirs
from streamops.media.ingest.llhls.packager import LlHlsPackager
from streamops.media.ingest.session import Session
from streamops.media.ingest.worker import IngestWorker

LADDER = {
    "renditions": [
        {"name": "720p", "height": 720, "videoBitrateKbps": 2500},
        {"name": "360p", "height": 360, "videoBitrateKbps": 800},
    ]
}
TS_PACKET = b"\x47" + bytes(187)


@dataclass
class Publisher:
    """What the worker's parts read of a Session that started (its media goes on air at once)."""

    kind: str
    dir: Path
    tls: bool = False
    started: bool = True
    closed_captions: bool = False
    front_hls: bool = False
    facts: SourceFacts = field(default_factory=lambda: SourceFacts(video_codec="h264", width=1280, height=720))
    packagers: dict[str, LlHlsPackager] = field(default_factory=dict)


def worker(tmp_path: Path, **config: Any) -> IngestWorker:
    source = config.pop("source", {"push": {"protocols": ["rtmp"]}})
    made = IngestWorker(
        IngestConfig.model_validate({"stream": "cam", "source": source, "mediaDir": str(tmp_path), **config})
    )
    made.sessions_dir.mkdir(parents=True)
    made.feed.clock = lambda: 0.0  # media published stays flowing (no silence) however slow the machine
    return made


def publish(w: IngestWorker, kind: str = "rtmp") -> Session:
    """A publisher starts and sends: the own session is live and on air."""
    session = cast(Session, Publisher(kind, w.sessions_dir / f"1-{kind}"))
    for directory in session_dirs(w.config, session.dir):  # as Session.run makes them
        directory.mkdir(parents=True)
    assert w.sessions.started(session)
    w.sessions.media(TS_PACKET)
    return session


def metric(w: IngestWorker, name: str, **labels: str) -> float | None:
    return w.registry.get_sample_value(name, {"stream": "cam", "role": "primary", **labels})


def test_a_worker_without_a_publisher_reports_nothing_live(tmp_path):
    status = worker(tmp_path, transcoding=LADDER).status()
    assert (status.live, status.active, status.source, status.started_at) == (False, True, None, None)
    assert status.sessions == [] and status.refused_publishers == 0 and status.webrtc is None
    assert status.transcoded_qualities == ["720p", "360p"], "tallest first"
    assert status.frame_rate is None and status.video_width is None


def test_a_live_publisher_is_reported_with_what_its_source_is(tmp_path):
    async def check() -> None:
        w = worker(tmp_path)
        publish(w)
        status = w.status()
        assert (status.live, status.source, status.active_ingest) == (True, "rtmp", "primary")
        assert (status.video_codec, status.video_width, status.video_height) == ("h264", 1280, 720)
        assert status.started_at is not None and status.finished_at is None
        assert [s.protocol for s in status.sessions] == ["rtmp"] and status.hls_writer == "ffmpeg"
        assert metric(w, "streamops_ingest_live") == 1
        assert metric(w, "streamops_ingest_video_width_pixels") == 1280
        assert metric(w, "streamops_ingest_sessions_total") == 1

    asyncio.run(check())


def test_who_writes_the_live_sessions_hls_is_reported(tmp_path):
    """IngestStatus.hlsWriter: the RTMP front for a session made with hlsWriter front, else FFmpeg;
    nothing while no session is live."""

    async def check() -> None:
        w = worker(tmp_path, hlsWriter="front")
        assert w.status().hls_writer is None
        session = publish(w)
        cast(Publisher, session).front_hls = True
        assert w.status().hls_writer == "front"
        w.sessions.ended(session, 0)
        assert w.status().hls_writer is None

    asyncio.run(check())


def test_a_pull_failure_is_said_only_while_nothing_is_live(tmp_path):
    async def check() -> None:
        w = worker(tmp_path, source={"pull": {"urls": ["rtmp://origin/live/a"]}})
        w.pull.failure = PullFailure(url_index=0, url="rtmp://origin/live/a", kind="failed", message="refused")
        assert w.status().pull_failure == w.pull.failure
        publish(w, "pull-0")
        assert w.status().pull_failure is None, "the next URL gives media: no failure to say"

    asyncio.run(check())


def test_a_deactivated_pull_is_reported_and_not_ready(tmp_path):
    w = worker(tmp_path, source={"pull": {"urls": ["rtmp://origin/live/a"]}})
    w.listening = True
    assert w.accepting
    w.pull.active, w.pull.deactivated_reason = False, "no data for 30 s from any pull URL"
    status = w.status()
    assert (status.active, status.deactivated_reason) == (False, "no data for 30 s from any pull URL")
    assert not w.accepting


def test_refusals_are_counted_by_reason(tmp_path):
    w = worker(tmp_path)
    w.telemetry.rtmp_refused("key", 2)
    w.telemetry.rtmp_refused("busy", 1)
    assert metric(w, "streamops_ingest_rtmp_refused_total", reason="key") == 2
    assert metric(w, "streamops_ingest_rtmp_refused_total", reason="busy") == 1
    assert b"streamops_ingest_publishers_refused_total" in generate_latest(w.registry), "read from the front"


def test_no_rates_while_nothing_is_on_air(tmp_path):
    w = worker(tmp_path)
    assert w.telemetry.live_rates().frame_rate is None and metric(w, "streamops_ingest_frame_rate") == 0


def test_the_playlist_update_is_its_top_renditions_last_rewrite(tmp_path):
    async def check() -> None:
        w = worker(tmp_path, transcoding=LADDER)
        assert w.telemetry.playlist_updated_at() == 0.0, "nothing served yet"
        session = publish(w)
        playlist = session.dir / muxed_hls_variants(w.config)[0][0] / "720p" / "index.m3u8"
        assert w.telemetry.playlist_updated_at() == 0.0, "no segment yet"
        playlist.write_text("#EXTM3U\n")
        os.utime(playlist, (1_700_000_000, 1_700_000_000))
        assert w.telemetry.playlist_updated_at() == 1_700_000_000
        assert metric(w, "streamops_ingest_playlist_updated_timestamp_seconds") == 1_700_000_000

    asyncio.run(check())

"""The series one stream's real workers export: an LL-HLS ingest published by FFmpeg and played a little
(HLS and LL-HLS requests), a recorder writing to a local directory (a claim) and a pusher to nginx-rtmp.
Every name scraped is in the metric catalogue (streamops.contract.metrics) with its type and labels,
every entry that is always there is, label values are the catalogue's enums or the objects' names, and
the stream stays within MAX_SERIES_PER_STREAM. The values say what was published (720p30, 2 s GOP).

`pytest -s` prints the counts (MEASURED) and the ceiling the catalogue's enums allow.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from math import prod
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.peers import NginxRtmp, Publisher
from devtools.media.workers import Ingest, Worker
from devtools.ports import free_port
from devtools.waits import wait_for
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from streamops.contract.metrics import ALL_METRICS, MAX_SERIES_PER_STREAM, Exporter, MetricSpec, spec

TARGET_KEY = "rk-metrics-7f3a9c-target-key"
NAMES = {"stream": "cam", "recording": "rec", "target": "out"}  # the objects' names, as the operator sets them
# Labels that name one worker: one value per worker process, whatever the catalogue allows.
WORKER_IDENTITY = {"stream", "role", "recording", "target"}


def scrape(http: str) -> dict[str, tuple[str, list[Sample]]]:
    """family name as exposed (a counter's with _total) -> (type, samples)."""
    status, body = http_get(http + "/metrics")
    assert status == 200
    text = body.decode()
    assert Ingest.KEY not in text and TARGET_KEY not in text
    out = {}
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        out[name] = (family.type, family.samples)
    return out


def check_exporter(exporter: Exporter, scraped: dict[str, tuple[str, list[Sample]]]) -> int:
    """Every family as the catalogue has it; returns the number of series."""
    series = 0
    for name, (kind, samples) in scraped.items():
        assert not name.startswith(("process_", "python_")), "no default collectors in a worker's registry"
        entry = spec(name, exporter)  # KeyError: not in the catalogue
        assert kind == entry.type, name
        for sample in samples:
            assert sample.name == name, sample  # no _created, no _sum/_count (no histogram in a worker)
            assert set(sample.labels) == set(entry.labels), sample
            for label, value in sample.labels.items():
                allowed = entry.allowed(label)
                assert value == NAMES[label] if allowed is None else value in allowed, (name, label, value)
                assert not re.search(r"[/?=\s]", value), (name, label, value)
        series += len(samples)
    for entry in ALL_METRICS:
        if entry.exporter == exporter and entry.always:
            assert scraped.get(entry.name, ("", []))[1], f"{entry.name} is always there"
    return series


def value(scraped: dict[str, tuple[str, list[Sample]]], name: str, **labels: str) -> float:
    [sample] = [s for s in scraped[name][1] if all(s.labels.get(k) == v for k, v in labels.items())]
    return float(sample.value)


def worst_case(exporter: Exporter) -> int:
    """The series one worker of `exporter` can export, from the catalogue's enums."""

    def children(entry: MetricSpec) -> int:
        return prod(len(values) for label, values in entry.values if label not in WORKER_IDENTITY)

    return sum(children(m) for m in ALL_METRICS if m.exporter == exporter)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxRtmp]:
    with NginxRtmp(workdir=tmp_path / "nginx") as server:
        yield server


@pytest.fixture
def recorder(tmp_path: Path, ingest_factory: Any) -> Iterator[Callable[[str], Worker]]:
    started: list[Worker] = []

    def start(feed_url: str) -> Worker:
        port, workdir = free_port(), tmp_path / "recorder"
        workdir.mkdir()
        config = {
            "stream": "cam",
            "recording": "rec",
            "feedUrl": feed_url,
            "recordingsRoot": str(workdir),
            "directory": "videos",
            "reconnectWindowSeconds": 10,
            "minDurationSeconds": 2,
            "maxSegmentSeconds": 14400,
            "httpHost": "127.0.0.1",
            "httpPort": port,
        }
        worker = Worker("record", config, workdir, port)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


def play_a_little(ingest: Ingest) -> None:
    """What a standard and an LL-HLS player fetch first: playlists, the init segment, a part, segments."""
    base = ingest.http + "/hls"
    status, body = http_get(f"{base}/cmaf/index.m3u8")  # standard HLS of the LL playlist
    assert status == 200, status
    playlist = body.decode()
    parts = re.findall(r'#EXT-X-PART:[^\n]*URI="([^"]+)"', playlist)
    sequence = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", playlist)
    assert parts and sequence, playlist
    msn = int(sequence[1])
    assert http_get(f"{base}/cmaf/init.mp4")[0] == 200
    assert http_get(f"{base}/cmaf/{parts[-1]}")[0] == 200
    assert http_get(f"{base}/cmaf/index.m3u8?_HLS_msn={msn}")[0] == 200  # a blocking reload: LL-HLS
    status, body = http_get(f"{base}/ts/index.m3u8")
    assert status == 200
    segment = re.findall(r"^(\S+\.ts)$", body.decode(), re.M)[-1]
    assert http_get(f"{base}/ts/{segment}")[0] == 200


def test_one_streams_workers_export_the_catalogue_within_the_series_budget(
    ingest_factory: Any, recorder: Callable[[str], Worker], pushers: Callable[..., Any], nginx: NginxRtmp
) -> None:
    ingest: Ingest = ingest_factory(hls={"latencyMode": "low", "partMilliseconds": 500})
    with Publisher(ingest.rtmp_url(), log_path=ingest.workdir / "publisher.log"):
        ingest.wait_live()
        rec = recorder(ingest.feed_url)
        push = pushers("out", ingest.feed_url, nginx.app_url(), TARGET_KEY)
        push.wait_live()
        wait_for(lambda: rec.status()["recording"], timeout=20, what="recording")
        # Two keyframes (2 s GOP) and a complete segment, and the live rates' window.
        wait_for(lambda: ingest.status()["frameRate"], timeout=20, what="live rates")
        time.sleep(3)
        play_a_little(ingest)
        scraped = {"ingest": scrape(ingest.control), "recorder": scrape(rec.http), "pusher": scrape(push.http)}

    counts = {exporter: check_exporter(exporter, s) for exporter, s in scraped.items()}
    total = sum(counts.values())
    worst = {exporter: worst_case(exporter) for exporter in counts}
    print(f"\nMEASURED series of one stream: {total} ({counts}); budget {MAX_SERIES_PER_STREAM}")
    print(f"MEASURED worst case from the catalogue's enums: {sum(worst.values())} ({worst})")
    assert total <= MAX_SERIES_PER_STREAM
    assert all(counts[e] <= worst[e] for e in counts)

    ingest_m, rec_m, push_m = scraped["ingest"], scraped["recorder"], scraped["pusher"]
    assert value(ingest_m, "streamops_ingest_live") == 1
    assert (
        value(ingest_m, "streamops_ingest_video_width_pixels"),
        value(ingest_m, "streamops_ingest_video_height_pixels"),
    ) == (1280, 720)
    assert value(ingest_m, "streamops_ingest_keyframe_interval_seconds") == pytest.approx(2.0, abs=0.05)
    assert value(ingest_m, "streamops_ingest_segment_target_seconds") == 2
    assert 0 <= time.time() - value(ingest_m, "streamops_ingest_playlist_updated_timestamp_seconds") < 10
    assert 25 <= value(ingest_m, "streamops_ingest_frame_rate") <= 35
    assert 0.5 <= value(ingest_m, "streamops_ingest_transcoding_speed_ratio") <= 2
    assert 1e6 < value(ingest_m, "streamops_ingest_bitrate_bits_per_second") < 8e6
    assert value(ingest_m, "streamops_ingest_feed_consumers") >= 2  # the recorder and the pusher
    assert value(ingest_m, "streamops_ingest_sessions_total") == 1
    assert value(ingest_m, "streamops_viewers", protocol="llhls") == 1  # the blocking reload's session
    assert value(ingest_m, "streamops_playback_requests_total", kind="playlist", via="direct") == 3
    assert value(ingest_m, "streamops_playback_requests_total", kind="media", via="direct") == 3
    assert {s.labels["protocol"] for s in ingest_m["streamops_viewers"][1]} == {"hls", "llhls"}, "only served ones"
    assert value(rec_m, "streamops_recorder_recording") == 1 and value(rec_m, "streamops_recorder_recorded_seconds") > 0
    assert "streamops_recorder_uploads_pending" not in rec_m, "no upload metrics without object storage"
    assert value(push_m, "streamops_pusher_state", state="live") == 1
    assert sum(s.value for s in push_m["streamops_pusher_state"][1]) == 1
    assert value(push_m, "streamops_pusher_sent_bytes_total") > 0

"""Export of recordings (issue 29, item 3), all real: a publisher (FFmpeg) pushing RTMP to an ingest
transcoding a 2-rendition ladder, the recorder recording its transcoded feed (the tallest rendition)
with the ladder in its config, and the real S3 server (versitygw). Once the video is finalised the
recorder derives the lower rendition; both go up with their sidecars, and the video's VOD page
next to them. Each object is downloaded and ffprobe'd at its rendition's height.

Every process is stopped by PID, also on failure."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.media.peers import Publisher, ffprobe_duration, ffprobe_streams
from devtools.media.s3_server import S3Server
from devtools.media.workers import WORKER_AUTH, Ingest, Worker
from devtools.ports import free_port
from devtools.waits import wait_for

pytestmark = pytest.mark.timeout(180)

BUCKET = "recordings"
PREFIX = "streamops/media/cam/{year}/{month}/{day}/{hour}/{minute}/rec-0123abcd"
LADDER = [  # tallest first, as the operator writes it (control/recording/specs/worker_config.py: recorded_renditions)
    {"name": "360p", "height": 360, "videoBitrateKbps": 600, "audioBitrateKbps": 64},
    {"name": "180p", "height": 180, "videoBitrateKbps": 200, "audioBitrateKbps": 64},
]
RECORD_SECONDS = 6


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    with S3Server(tmp_path / "s3") as server:
        server.create_bucket(BUCKET)
        yield server


def post_stop(worker: Worker, timeout: float = 60) -> dict[str, Any]:
    request = urllib.request.Request(worker.http + "/stop", method="POST", headers=WORKER_AUTH)
    with urllib.request.urlopen(request, timeout=timeout) as r:
        answer: dict[str, Any] = json.loads(r.read())
        return answer


def key_of(url: str) -> str:
    assert url.startswith(f"s3://{BUCKET}/"), url
    return url[len(f"s3://{BUCKET}/") :]


def height_of(path: Path) -> int:
    [video] = [s for s in ffprobe_streams(path) if s["codec_type"] == "video"]
    return int(video["height"])


def test_a_transcoded_recording_uploads_every_rendition_with_its_sidecar_and_the_vod_page(
    s3: S3Server, ingest_factory: Any, tmp_path: Path
) -> None:
    ingest: Ingest = ingest_factory(
        source={"push": {"protocols": ["rtmp"]}},
        screenshots={"enabled": False},
        transcoding={"renditions": LADDER},
        hls={"segmentSeconds": 2, "mpegts": False},
    )
    port = free_port()
    config = {
        "feedUrl": ingest.internal + "/feed/transcoded",
        "recordingsRoot": str(tmp_path / "scratch"),
        "directory": "rec",
        "title": "cam",
        "reconnectWindowSeconds": 1,
        "maxSegmentSeconds": 14400,
        "minDurationSeconds": 2,
        "renditions": LADDER,
        "segmentSeconds": 2,
        "upload": {
            "endpoint": s3.endpoint,
            "bucket": BUCKET,
            "keyPrefix": PREFIX,
            "caFile": str(s3.ca_file),
            "stream": "cam",
            "recording": "rec",
        },
        "httpHost": "127.0.0.1",
        "httpPort": port,
    }
    env = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
    recorder = Worker("record", config, tmp_path / "recorder", port, env=env)
    recorder.workdir.mkdir()
    publisher = Publisher(ingest.rtmp_url(), size="640x360", video_bitrate="800k", log_path=tmp_path / "pub.log")
    try:
        publisher.start()
        ingest.wait_live(timeout=20)
        recorder.start()
        wait_for(lambda: (recorder.status()["duration"] or 0) >= RECORD_SECONDS, 40, 0.2, "recorded")
        publisher.stop()
        stopping = time.monotonic()
        final = post_stop(recorder)
        stop_to_uploaded = time.monotonic() - stopping
    finally:
        publisher.stop()
        recorder.stop()

    assert final["state"] == "stopped" and final["storageProblem"] is None, final
    [video] = final["videos"]
    assert [r["name"] for r in video["renditions"]] == ["360p", "180p"], video
    assert all(r["upload"] == "uploaded" and r["path"] is None for r in video["renditions"]), video
    assert video["renditions"][0]["url"] == video["url"], "the tallest rendition is the video's own file"
    assert final["storedBytes"] == video["sizeBytes"] + video["renditions"][1]["sizeBytes"]

    main_key = key_of(video["url"])
    stem = main_key[: -len(".mp4")]
    low_key = key_of(video["renditions"][1]["url"])
    assert low_key == f"{stem}.180p.mp4"
    assert set(s3.objects(BUCKET)) == {main_key, f"{stem}.json", f"{stem}.html", low_key, f"{stem}.180p.json"}

    client = s3.client()
    for r in video["renditions"]:
        key = key_of(r["url"])
        path = tmp_path / Path(key).name
        path.write_bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        assert path.stat().st_size == r["sizeBytes"]
        assert height_of(path) == r["height"] == int(r["name"][:-1]), r
        assert ffprobe_duration(path) == pytest.approx(video["durationSeconds"], abs=0.3)
        sidecar = json.loads(client.get_object(Bucket=BUCKET, Key=key[: -len(".mp4")] + ".json")["Body"].read())
        assert sidecar["url"] == r["url"] and sidecar["codecs"]["video"]["height"] == r["height"], sidecar
    page = client.get_object(Bucket=BUCKET, Key=f"{stem}.html")
    assert page["ContentType"].startswith("text/html") and b"window.streamopsPlayer" in page["Body"].read()

    [derived] = [line for line in recorder.logs().splitlines() if "rendition(s) derived" in line]
    print(f"\nMEASURED {video['durationSeconds']:.1f} s video: {derived.split(': ', 1)[-1]}")
    print(f"MEASURED stop -> every rendition uploaded: {stop_to_uploaded:.2f} s")

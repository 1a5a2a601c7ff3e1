"""keepOrigin (issue 41, item 5), all real: a publisher (FFmpeg, 640x360 H.264 High at 800 kbit/s)
pushing RTMP to an ingest transcoding a 1-rendition ladder (180p at 200 kbit/s), one recorder
recording the transcoded feed with keepOrigin (the origin feed beside it) onto a directory standing
for the claim. The publisher drops for a moment within the reconnect window and comes back: one
video, and one original spanning both sessions too. Both files are probed: the original has the
source's size, codec profile and bitrate, the video the rendition's; the sidecar names the original
and its deadline.

Each feed's reader joins at that feed's last keyframe (the feed's GOP cache), and the transcoded feed
trails the source by the encoder's delay: a reader joining mid-session within that delay after a
source keyframe starts the video a GOP before the original (ci72 at load 13: 7.92 s of video, 5.84 s
of original, the original's first part joined one 2 s GOP later). So both feeds have one keyframe per
session here (8 s GOPs, sessions of ≈4 s), and the recorder waits for the feed before the publisher
starts: each part of both files holds its session whole, however late a loaded machine joins.

Every process is stopped by PID, also on failure."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devtools.media.peers import Publisher, ffprobe_duration, ffprobe_streams
from devtools.media.workers import WORKER_AUTH, Ingest, Worker
from devtools.ports import free_port
from devtools.waits import wait_for

pytestmark = pytest.mark.timeout(120)

LADDER = [{"name": "180p", "height": 180, "videoBitrateKbps": 200, "audioBitrateKbps": 64}]
KEEP_SECONDS = 3 * 86400  # keepOrigin.deleteAfterDays 3, as the operator would send it
# Both feeds' keyframe interval (the publisher's GOP, the ladder's segments): longer than a session, so
# that a session's only join point is its start; under the feed's 10 s GOP-cache bound.
GOP_SECONDS = 8


def post_stop(worker: Worker, timeout: float = 60) -> dict[str, Any]:
    request = urllib.request.Request(worker.http + "/stop", method="POST", headers=WORKER_AUTH)
    with urllib.request.urlopen(request, timeout=timeout) as r:
        answer: dict[str, Any] = json.loads(r.read())
        return answer


def video_stream(path: Path) -> dict[str, Any]:
    [video] = [s for s in ffprobe_streams(path) if s["codec_type"] == "video"]
    return video


def test_a_transcoded_recording_keeps_the_untouched_original_beside_its_video(
    ingest_factory: Any, tmp_path: Path
) -> None:
    ingest: Ingest = ingest_factory(
        source={"push": {"protocols": ["rtmp"]}},
        screenshots={"enabled": False},
        transcoding={"renditions": LADDER},
        hls={"segmentSeconds": GOP_SECONDS, "mpegts": False},
    )
    port = free_port()
    claim = tmp_path / "claim"
    config = {
        "feedUrl": ingest.internal + "/feed/transcoded",
        "originFeedUrl": ingest.internal + "/feed",
        "originKeepSeconds": KEEP_SECONDS,
        "recordingsRoot": str(claim),
        "directory": "media/rec",
        "title": "cam",
        "reconnectWindowSeconds": 10,
        "maxSegmentSeconds": 14400,
        "minDurationSeconds": 2,
        "renditions": LADDER,
        "segmentSeconds": GOP_SECONDS,
        "httpHost": "127.0.0.1",
        "httpPort": port,
    }
    recorder = Worker("record", config, tmp_path / "recorder", port)
    recorder.workdir.mkdir()

    def publisher(n: int) -> Publisher:
        return Publisher(
            ingest.rtmp_url(),
            size="640x360",
            rate=25,
            gop_seconds=GOP_SECONDS,
            video_bitrate="800k",
            log_path=tmp_path / f"pub{n}.log",
        )

    first, second = publisher(1), publisher(2)
    began = time.monotonic()
    try:
        recorder.start()  # waiting for the feed: it joins each session at its start
        first.start()
        wait_for(lambda: (recorder.status()["duration"] or 0) >= 3, 30, 0.2, "recorded 3 s")
        first.stop()  # a drop shorter than the reconnect window: the same video goes on
        wait_for(lambda: recorder.status()["state"] == "reconnecting", 20, 0.1, "reconnecting")
        second.start()
        wait_for(lambda: (recorder.status()["duration"] or 0) >= 6, 30, 0.2, "recorded 6 s over both sessions")
        second.stop()
        final = post_stop(recorder)
    finally:
        first.stop()
        second.stop()
        recorder.stop()
    print(f"\nMEASURED test body {time.monotonic() - began:.1f} s")

    assert final["state"] == "stopped" and final["lastError"] is None, final
    [video] = final["videos"]  # one video across the drop
    origin = video["origin"]
    assert video["path"].startswith("media/rec/record-") and video["path"].endswith(".mp4")
    assert origin["path"] == video["path"][: -len(".mp4")] + "-origin.mp4", "beside the video"
    assert final["storedBytes"] == video["sizeBytes"] + origin["sizeBytes"], "the original counts while kept"
    ended = datetime.fromisoformat(video["endedAt"])
    assert datetime.fromisoformat(origin["deleteAt"]) == ended + timedelta(seconds=KEEP_SECONDS)

    transcoded, untouched = claim / video["path"], claim / origin["path"]
    assert untouched.stat().st_size == origin["sizeBytes"] > 2 * transcoded.stat().st_size, "800 vs 200 kbit/s"
    kept, made = video_stream(untouched), video_stream(transcoded)
    assert (kept["width"], kept["height"], kept["codec_name"]) == (640, 360, "h264"), "the source's"
    assert (origin["width"], origin["height"]) == (640, 360)
    assert (made["width"], made["height"], made["codec_name"]) == (320, 180, "h264"), "the rendition's"
    assert kept["profile"] != made["profile"] or kept["bit_rate"] != made["bit_rate"]
    seconds, origin_seconds = ffprobe_duration(transcoded), ffprobe_duration(untouched)
    assert seconds == pytest.approx(video["durationSeconds"], abs=0.3)
    # Both sessions whole in both files (the module's docstring): the same span of the broadcast.
    assert origin_seconds == pytest.approx(seconds, abs=1.5), (origin_seconds, seconds)
    assert seconds >= 5.0, "both sessions in the one video"

    sidecar = json.loads(transcoded.with_suffix(".json").read_text())
    assert sidecar["origin"]["path"] == origin["path"] and sidecar["origin"]["deleteAt"] == origin["deleteAt"]
    leftovers = [p.name for p in (claim / "media/rec/.parts").iterdir()]
    assert leftovers == [], "both part lists are gone once finalised"
    print(f"MEASURED video {seconds:.2f} s, its original {origin_seconds:.2f} s (two sessions, one drop)")

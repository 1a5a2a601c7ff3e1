"""The clipper worker against a real ingest with DVR, fed by a real FFmpeg publisher: a clip of
the last seconds in keyframe mode (a stream copy starting on a keyframe: its duration within a
GOP of the request) and in exact mode (re-encoded: within a frame of the request), both ffprobe'd;
an end still to come is waited for; a start the DVR never held is refused (OutsideDvrWindow); a
clip uploaded to a real S3 server with the recorder's uploader (the object and its sidecar). The
stream's playback is signed: the clipper signs its own token with the mounted keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devtools.media.clipper import ClipperWorker, dvr_seconds, probe
from devtools.media.peers import Publisher
from devtools.media.playback_keys import write_playback_keys
from devtools.media.s3_server import S3Server
from devtools.media.workers import Ingest
from devtools.waits import wait_for
from streamops.contract.playback_token import sign

GOP_SECONDS = 1.0
RATE = 25
FRAME = 1 / RATE
DVR = {"enabled": True, "durationSeconds": 30}
HLS = {"segmentSeconds": 1}
BUCKET = "clips"
CLIENT = {"clientUserId": 7, "clientEntityData": "match 12"}


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    with S3Server(tmp_path / "s3") as server:
        server.create_bucket(BUCKET)
        yield server


def test_clips_from_the_dvr(ingest_factory: Any, tmp_path: Path, s3: S3Server) -> None:
    key = b"k" * 32
    keys = write_playback_keys(tmp_path / "keys" / "playback-keys", key)
    signed = {"namespace": "ns", "access": "signed", "keysDir": str(keys)}
    ingest: Ingest = ingest_factory(dvr=DVR, hls=HLS, playback=signed)
    playlist = f"{ingest.http}/hls/ts/index.m3u8"
    token = sign(key, "ns/cam", int(datetime.now(UTC).timestamp()) + 600)
    assert dvr_seconds(playlist) == 0, "a signed stream: no playlist without a token"
    signing = {"playbackKeysDir": str(keys), "playbackStream": "ns/cam"}
    upload = {
        "endpoint": s3.endpoint,
        "bucket": BUCKET,
        "keyPrefix": "ns/cam/{year}/{month}/{day}/bucketed",
        "caFile": str(s3.ca_file),
        "stream": "cam",
        "recording": "bucketed",
        "client": CLIENT,
    }
    s3_keys = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
    workers: list[ClipperWorker] = []
    with Publisher(ingest.rtmp_url(), size="640x360", rate=RATE, gop_seconds=GOP_SECONDS, video_bitrate="600k"):
        ingest.wait_live()
        wait_for(lambda: dvr_seconds(f"{ingest.http}/t/{token}/hls/ts/index.m3u8") >= 9, timeout=30, interval=0.5)
        now = datetime.now(UTC)
        start, end = now - timedelta(seconds=7.3), now - timedelta(seconds=1.5)
        old = now - timedelta(seconds=120)
        try:
            for name, span, mode, extra in (
                ("keyframe", (start, end), "keyframe", {"client": CLIENT}),
                ("exact", (start, end), "exact", {}),
                ("future", (now, now + timedelta(seconds=3)), "keyframe", {}),
                ("old", (old, old + timedelta(seconds=5)), "keyframe", {}),
                ("bucketed", (start, end), "keyframe", {"upload": upload, "env": s3_keys}),
            ):
                clipper = ClipperWorker(tmp_path / name, name, playlist, *span, mode=mode, **signing, **extra)
                workers.append(clipper.start())
            results = [w.finished() for w in workers]
        finally:
            for w in workers:
                w.stop()
    keyframe, exact, future, refused, bucketed = results
    want = (end - start).total_seconds()
    for result, worker in ((keyframe, workers[0]), (exact, workers[1])):
        assert result["state"] == "succeeded", (result, worker.logs()[-2000:])
        video = result["video"]
        path = worker.video_file(result)
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert sidecar["durationSeconds"] == video["durationSeconds"] and sidecar["title"] == video["title"]
        assert "<video" in path.with_suffix(".html").read_text(), "its VOD page beside it on the claim"
        if worker.config["mode"] == "keyframe":
            assert sidecar["clientUserId"] == 7 and sidecar["clientEntityData"] == "match 12", sidecar
        info = probe(path)
        duration = float(info["format"]["duration"])
        assert abs(video["durationSeconds"] - duration) < 0.01
        assert video["sizeBytes"] == path.stat().st_size
        assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
        head = path.read_bytes()[:65536]
        assert b"moov" in head and head.find(b"moov") < head.find(b"mdat"), "faststart: the moov first"
        if worker.config["mode"] == "keyframe":
            # From the keyframe at or before start: up to one GOP longer, never shorter.
            assert want - 2 * FRAME <= duration <= want + GOP_SECONDS + 2 * FRAME, duration
        else:
            assert abs(duration - want) <= FRAME + 0.03, duration
            started = datetime.fromisoformat(result["startedAt"].replace("Z", "+00:00"))
            assert abs((started - start.replace(microsecond=0)).total_seconds()) <= 1
    assert future["state"] == "succeeded", future
    assert 3 - 2 * FRAME <= future["video"]["durationSeconds"] <= 3 + GOP_SECONDS + 0.1
    assert refused["state"] == "failed" and refused["refusal"] == "OutsideDvrWindow", refused
    assert "holds media from" in refused["message"]

    assert bucketed["state"] == "succeeded", (bucketed, workers[4].logs()[-2000:])
    video = bucketed["video"]
    assert video["upload"] == "uploaded" and video["url"].startswith(f"s3://{BUCKET}/ns/cam/") and not video["path"]
    key = video["url"].removeprefix(f"s3://{BUCKET}/")
    assert s3.objects(BUCKET)[key] == video["sizeBytes"]
    sidecar_object = s3.client().get_object(Bucket=BUCKET, Key=key.removesuffix(".mp4") + ".json")
    sidecar = json.loads(sidecar_object["Body"].read())
    assert sidecar["title"] == video["title"] and sidecar["recording"] == "bucketed"
    assert sidecar["clientUserId"] == 7 and sidecar["clientEntityData"] == "match 12", sidecar
    assert not list((workers[4].root / "ns" / "bucketed").glob("*.mp4")), "the local copy goes once uploaded"
    assert s3.secret_key not in json.dumps(bucketed) + workers[4].logs()

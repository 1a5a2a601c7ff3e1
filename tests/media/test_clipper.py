"""The clipper worker against a real ingest with DVR, fed by a real FFmpeg publisher: a clip of
the last seconds in keyframe mode (a stream copy starting on a keyframe: its duration within a
GOP of the request) and in exact mode (re-encoded: within a frame of the request), both ffprobe'd;
an end still to come is waited for; a start the DVR never held is refused (OutsideDvrWindow)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devtools.media.peers import Publisher
from devtools.media.workers import Ingest, Worker
from devtools.ports import free_port
from devtools.waits import wait_for

GOP_SECONDS = 1.0
RATE = 25
FRAME = 1 / RATE
DVR = {"enabled": True, "durationSeconds": 30}
HLS = {"segmentSeconds": 1}


def clipper(workdir: Path, name: str, playlist: str, start: datetime, end: datetime, mode: str) -> Worker:
    root = workdir / "recordings"
    root.mkdir(exist_ok=True)
    config: dict[str, Any] = {
        "stream": "cam",
        "clip": name,
        "playlistUrl": playlist,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "mode": mode,
        "title": f"Clip: cam, {start:%Y-%m-%d %H:%M:%S}",
        "recordingsRoot": str(root),
        "directory": f"ns/{name}",
        "httpHost": "127.0.0.1",
        "httpPort": free_port("tcp"),
    }
    return Worker("clip", config, workdir, config["httpPort"]).start()


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def finished(worker: Worker, timeout: float = 60) -> dict[str, Any]:
    return wait_for(lambda: (s := worker.status())["state"] in ("succeeded", "failed") and s, timeout=timeout)


def test_clips_from_the_dvr(ingest_factory: Any, tmp_path: Path) -> None:
    ingest: Ingest = ingest_factory(dvr=DVR, hls=HLS)
    playlist = f"{ingest.http}/hls/ts/index.m3u8"
    workers: list[Worker] = []
    with Publisher(ingest.rtmp_url(), size="640x360", rate=RATE, gop_seconds=GOP_SECONDS, video_bitrate="600k"):
        ingest.wait_live()
        wait_for(lambda: playlist_seconds(playlist) >= 9, timeout=30, interval=0.5)
        now = datetime.now(UTC)
        start, end = now - timedelta(seconds=7.3), now - timedelta(seconds=1.5)
        try:
            for mode in ("keyframe", "exact"):
                (tmp_path / mode).mkdir()
                workers.append(clipper(tmp_path / mode, mode, playlist, start, end, mode))
            (tmp_path / "future").mkdir()
            workers.append(
                clipper(tmp_path / "future", "future", playlist, now, now + timedelta(seconds=3), "keyframe")
            )
            (tmp_path / "old").mkdir()
            old = now - timedelta(seconds=120)
            workers.append(clipper(tmp_path / "old", "old", playlist, old, old + timedelta(seconds=5), "keyframe"))
            results = [finished(w) for w in workers]
        finally:
            for w in workers:
                w.stop()
    keyframe, exact, future, refused = results
    want = (end - start).total_seconds()
    for result, mode in ((keyframe, "keyframe"), (exact, "exact")):
        assert result["state"] == "succeeded", (result, workers[0].logs()[-2000:])
        video = result["video"]
        path = tmp_path / mode / "recordings" / video["path"]
        assert path.exists() and path.with_suffix(".json").exists()
        info = probe(path)
        duration = float(info["format"]["duration"])
        assert abs(video["durationSeconds"] - duration) < 0.01
        assert video["sizeBytes"] == path.stat().st_size
        assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
        head = path.read_bytes()[:4096]
        assert head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head, "faststart: moov before mdat"
        if mode == "keyframe":
            # From the keyframe at or before start: up to one GOP longer, never shorter.
            assert want - 2 * FRAME <= duration <= want + GOP_SECONDS + 2 * FRAME, duration
        else:
            assert abs(duration - want) <= FRAME + 0.03, duration
            started = datetime.fromisoformat(result["startedAt"].replace("Z", "+00:00"))
            assert abs((started - start.replace(microsecond=0)).total_seconds()) <= 1
    assert future["state"] == "succeeded", future
    assert 3 - 2 * FRAME <= future["video"]["durationSeconds"] <= 3 + GOP_SECONDS + 0.1
    assert refused["state"] == "failed" and refused["refusal"] == "OutsideDvrWindow", refused


def playlist_seconds(url: str) -> float:
    from devtools.http_client import http_get

    code, body = http_get(url)
    if code != 200:
        return 0.0
    return sum(
        float(line.split(":")[1].split(",")[0]) for line in body.decode().splitlines() if line.startswith("#EXTINF:")
    )

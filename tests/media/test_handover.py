"""A make-before-break handover between two real ingest workers on 127.0.0.1 (media/ingest/handover.py):
the successor follows the predecessor's window until it serves the same playlists, the predecessor
releases (its publisher cut, new ones refused), the encoder — reconnecting as OBS does through a
forwarder that stands in for the Service — lands on the successor, whose playlists go on with the
predecessor's numbers after one discontinuity, every segment listed before the switch still served;
a recorder reading the feed through the internal Service's stand-in makes one video of it."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime

from devtools.http_client import http_get, http_request
from devtools.media.peers import Publisher, TcpForwarder, ffprobe_duration
from devtools.media.reconnecting_publisher import Backoff, ReconnectingPublisher
from devtools.media.workers import WORKER_AUTH, Worker
from devtools.ports import free_port
from devtools.waits import wait_for
from streamops.contract.ingest import FEED_PATH, HANDOVER_FOLLOW_PATH, HANDOVER_RELEASE_PATH, HANDOVER_STATE_PATH

HLS = {"segmentSeconds": 1, "latencyMode": "low", "cmaf": True, "mpegts": True}
DVR = {"enabled": True, "durationSeconds": 30}
PATHS = ("/hls/ts/index.m3u8", "/hls/cmaf/index.m3u8")
SEGMENT = re.compile(r"^(seg-\d+\.(?:ts|m4s))$", re.M)


def text_of(ingest, path: str) -> str:
    code, body = http_get(f"{ingest.http}{path}", timeout=15)
    return body.decode() if code == 200 else ""


def numbered(text: str) -> list[tuple[int, str]]:
    first = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])
    return [(first + i, uri) for i, uri in enumerate(SEGMENT.findall(text))]


def dated(text: str) -> list[tuple[datetime, float]]:
    """(program date time, EXTINF) of each complete segment."""
    found = re.findall(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)\n(?:#EXT-X-PART:[^\n]*\n)*#EXTINF:([\d.]+),", text)
    return [(datetime.fromisoformat(d.replace("Z", "+00:00").replace("+0000", "+00:00")), float(x)) for d, x in found]


def final_window(ingest) -> dict[str, list[tuple[int, str]]]:
    """A released predecessor's newest segments, per playlist path: (number, URI) of the last few
    (its handover state's: its standard playlists answer 307 once released)."""
    code, _, body = http_request("GET", ingest.internal + HANDOVER_STATE_PATH, None, WORKER_AUTH)
    assert code == 200, body
    return {
        f"/hls/{p['variant']}/index.m3u8": [(s["number"], s["uri"]) for s in p["segments"]][-3:]
        for p in json.loads(body)["playlists"]
    }


def handover(ingest) -> dict:
    return ingest.status().get("handover") or {}


def post(url: str, body: dict | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    return http_request("POST", url, data, {"Content-Type": "application/json", **WORKER_AUTH})[0]


def recorder_through(feed: TcpForwarder, tmp_path) -> Worker:
    """A recorder of the feed behind `feed` (the internal Service), one video across reconnects."""
    (tmp_path / "record").mkdir()
    port = free_port()
    config = {
        "feedUrl": f"http://127.0.0.1:{feed.port}{FEED_PATH}",
        "recordingsRoot": str(tmp_path),
        "directory": "videos",
        "title": "Camera 1",
        "reconnectWindowSeconds": 10,
        "maxSegmentSeconds": 14400,
        "minDurationSeconds": 2,
        "httpHost": "127.0.0.1",
        "httpPort": port,
    }
    return Worker("record", config, tmp_path / "record", port).start()


def test_a_live_ingest_hands_over_to_its_successor_without_a_reset(ingest_factory, tmp_path):
    before = ingest_factory("predecessor", hls=HLS, dvr=DVR, source={"push": {"protocols": ["rtmp"]}})
    after = ingest_factory("successor", hls=HLS, dvr=DVR, source={"push": {"protocols": ["rtmp"]}})
    service = TcpForwarder(before.ports["rtmp"], tmp_path / "service").start()
    internal = TcpForwarder(before.ports["internal"], tmp_path / "internal").start()
    recorder: Worker | None = None
    encoder = ReconnectingPublisher(
        lambda: Publisher(f"rtmp://127.0.0.1:{service.port}/live/{before.KEY}", size="640x360", gop_seconds=1),
        Backoff(first=0.2, ceiling=1.0),
    ).start()
    try:
        before.wait_live(timeout=20)
        recorder = recorder_through(internal, tmp_path)
        wait_for(lambda: recorder.status()["state"] == "recording", timeout=20)
        wait_for(lambda: all(text_of(before, p).count("#EXTINF") >= 3 for p in PATHS), timeout=30)

        follow = {"predecessorUrl": before.internal, "predecessorPod": "ingest-0"}
        assert post(after.internal + HANDOVER_FOLLOW_PATH, follow) == 200
        assert post(after.internal + HANDOVER_FOLLOW_PATH, follow) == 200, "idempotent"
        other = {"predecessorUrl": "http://127.0.0.1:1", "predecessorPod": "other"}
        assert post(after.internal + HANDOVER_FOLLOW_PATH, other) == 409
        wait_for(lambda: handover(after).get("phase") == "caught-up", timeout=20)
        # Byte-identical playlists (the predecessor's may gain a segment between the two reads).
        wait_for(lambda: text_of(before, PATHS[0]) == text_of(after, PATHS[0]), timeout=10, what="same ts playlist")

        # The Services now route to the successor.
        service.upstream = ("127.0.0.1", after.ports["rtmp"])
        internal.upstream = ("127.0.0.1", after.ports["internal"])
        released_at = time.monotonic()
        assert post(before.internal + HANDOVER_RELEASE_PATH) == 202
        wait_for(lambda: handover(before).get("release") == "released", timeout=20)
        assert post(before.internal + HANDOVER_RELEASE_PATH) == 202, "idempotent"
        assert http_get(before.http + "/readyz")[0] != 200, "a released predecessor leaves the Service"
        assert "#EXT-X-ENDLIST" not in text_of(before, PATHS[1]), "viewers are never told it ended"
        # Its standard playlists send the players on to the successor (307); its final window is its state's.
        assert http_request("GET", before.http + PATHS[0])[0] == 307
        last = final_window(before)

        def continued(path: str) -> str | None:
            text = text_of(after, path)
            return text if "#EXTINF" in text.partition("#EXT-X-DISCONTINUITY\n")[2] else None

        wait_for(lambda: handover(after).get("phase") == "on-air", timeout=30, what="the successor's own media")
        texts = {p: wait_for(lambda p=p: continued(p), timeout=30, what=f"{p} continued") for p in PATHS}
        on_air = time.monotonic() - released_at
        for path, text in texts.items():
            listed = numbered(text)
            numbers = [n for n, _ in listed]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), text
            assert set(last[path]) <= set(listed), (last[path], text)
            assert text.count("#EXT-X-DISCONTINUITY\n") == 1, text
            for _, uri in listed:
                assert http_get(f"{after.http}{path.rsplit('/', 1)[0]}/{uri}", timeout=15)[0] == 200, (path, uri)
        # The gap in the media: from the end of the predecessor's last segment to the start of the
        # successor's first (program date times), measured, not asserted.
        ts = dated(texts[PATHS[0]])
        boundary = last[PATHS[0]][-1][0] + 1 - numbered(texts[PATHS[0]])[0][0]  # the successor's first
        (end, duration), (start, _) = ts[boundary - 1], ts[boundary]
        gap = (start - end).total_seconds() - duration
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"MEASURED handover: media gap {gap:.2f} s, release to continued playlists {on_air:.2f} s (load {load})")

        # The recorder reads the successor's feed now: one video across the handover.
        wait_for(lambda: after.status()["feedConsumers"] >= 1, timeout=15, what="the recorder on the successor")
        began = datetime.fromisoformat(recorder.status()["startedAt"].replace("Z", "+00:00"))
        code, _, body = http_request("POST", recorder.http + "/stop", None, WORKER_AUTH, timeout=60)
        videos = json.loads(body)["videos"]
        wall = (datetime.now(began.tzinfo) - began).total_seconds()
        duration = ffprobe_duration(tmp_path / videos[0]["path"])
        print(f"MEASURED recording across the handover: {duration:.1f} s of {wall:.1f} s wall, {len(videos)} video")
        assert code == 200 and len(videos) == 1, videos
        assert duration >= wall - 6, "at most a few seconds lost around the handover"
    finally:
        encoder.stop()
        if recorder is not None:
            recorder.stop()
        service.stop()
        internal.stop()

"""WHIP publishers and WHEP viewers through the real ingest worker (`streamops worker ingest` on
127.0.0.1, running streamops-webrtc): publishers are cmd/whip-push fed by FFmpeg
(devtools.media.whip_publisher) and the RTMP Publisher, viewers are cmd/whep-load (pion). Hand-written
SDP offers for what the component refuses before ICE. Every process is stopped by PID, also on
failure (the fixtures' and the peers' context managers)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get, http_request
from devtools.media.peers import Publisher, ffprobe_streams
from devtools.media.webrtc import watch_whep
from devtools.media.whip_publisher import FileRtpSender, WhipPublisher, resolution_switch
from devtools.media.workers import WORKER_AUTH, Ingest
from devtools.waits import measured_until, wait_for

KEY = Ingest.KEY
WHIP_STREAM = {"source": {"push": {"protocols": ["rtmp", "srt", "whip"]}}, "publisherTimeoutSeconds": 2}
SDP_HEADERS = {"Content-Type": "application/sdp"}
BEARER = {**SDP_HEADERS, "Authorization": f"Bearer {KEY}"}


def offer(*media: str) -> bytes:
    """A hand-written offer: enough for the component's codec check, which comes before ICE."""
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", *media]
    return ("\r\n".join(lines) + "\r\n").encode()


H264 = "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1"
VP8 = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000"
OPUS = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2"
PCMU = "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000"


@pytest.fixture
def whip_ingest(ingest_factory: Callable[..., Ingest]) -> Ingest:
    """An ingest taking RTMP, SRT and WHIP and serving WHEP, its component up."""
    return running(ingest_factory(webrtc={}, **WHIP_STREAM))


def running(ingest: Ingest) -> Ingest:
    wait_for(lambda: (ingest.status().get("webrtc") or {}).get("running"), timeout=15, what="the WebRTC component")
    return ingest


@pytest.fixture
def whip(tmp_path: Path) -> Iterator[Callable[..., WhipPublisher]]:
    """Start WhipPublishers (url, name, token=KEY, **options); every one stopped after the test."""
    started: list[WhipPublisher] = []

    def make(url: str, name: str = "whip", token: str | None = KEY, **options: Any) -> WhipPublisher:
        publisher = WhipPublisher(url, tmp_path / name, token=token, name=name, size="640x360", **options)
        started.append(publisher)
        return publisher.start()

    yield make
    for publisher in reversed(started):
        publisher.stop()


def webrtc_status(ingest: Ingest) -> dict[str, Any]:
    return dict(ingest.status()["webrtc"])


def segment_streams(ingest: Ingest, variant: str) -> dict[str, str]:
    """codec_type -> codec_name of the newest segment of the `variant` playlist ({} before the
    first one); for cmaf, of its init segment (where fMP4 keeps the codecs)."""
    status, playlist = http_get(f"{ingest.http}/hls/{variant}/index.m3u8")
    segments = [line for line in playlist.decode().splitlines() if line and not line.startswith("#")]
    if status != 200 or not segments:
        return {}
    url = f"{ingest.http}/hls/{variant}/{'init.mp4' if variant == 'cmaf' else segments[-1]}"
    return {s["codec_type"]: s["codec_name"] for s in ffprobe_streams(url)}


def first_feed_bytes(ingest: Ingest) -> bytes:
    done = subprocess.run(
        [
            "curl",
            "-s",
            "--max-time",
            "3",
            "--range",
            "0-1879",
            "-H",
            f"Authorization: {WORKER_AUTH['Authorization']}",
            ingest.feed_url,
        ],
        capture_output=True,
        timeout=10,
    )
    return done.stdout


# --- (a) WHIP publish --------------------------------------------------------------------------------


def test_a_whip_publisher_is_live_with_h264_and_aac_everywhere(whip_ingest: Ingest, whip: Any) -> None:
    publisher = whip(whip_ingest.whip_url)
    state = publisher.wait_connected(timeout=15)
    assert state["location"].startswith(f"{whip_ingest.http}/whip/"), "Location mapped onto the worker's path"
    live = whip_ingest.wait_live(timeout=10)
    assert live["source"] == "whip" and live["videoWidth"] == 640 and live["videoHeight"] == 360
    wait_for(lambda: webrtc_status(whip_ingest)["whipPublisher"], timeout=5, what="whipPublisher in status")
    assert wait_for(lambda: segment_streams(whip_ingest, "ts").get("audio"), timeout=10) == "aac"
    assert segment_streams(whip_ingest, "ts")["video"] == "h264"
    cmaf = wait_for(lambda: segment_streams(whip_ingest, "cmaf"), timeout=5, what="the CMAF playlist")
    assert (cmaf["video"], cmaf["audio"]) == ("h264", "aac")
    feed = first_feed_bytes(whip_ingest)
    assert len(feed) >= 188 and feed[0] == 0x47, "the live feed is MPEG-TS"
    assert KEY not in whip_ingest.logs()


# --- (b) who may publish ---------------------------------------------------------------------------------


def test_whip_refusals_say_why_and_never_echo_the_key(whip_ingest: Ingest, whip: Any) -> None:
    url = whip_ingest.whip_url
    status, headers, body = http_request("POST", url, offer(H264, OPUS), SDP_HEADERS)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert headers["Access-Control-Allow-Origin"] == "*" and "Location" in headers["Access-Control-Expose-Headers"]
    status, _, wrong = http_request("POST", url, offer(H264, OPUS), {**SDP_HEADERS, "Authorization": "Bearer guess-me"})
    assert status == 401 and b"guess-me" not in wrong and KEY.encode() not in body + wrong
    status, _, body = http_request("POST", url, offer(VP8, OPUS), BEARER)
    assert status == 406 and b"H.264" in body
    status, _, body = http_request("POST", url, offer(H264, PCMU), BEARER)
    assert status == 406 and b"Opus" in body
    assert http_request("POST", url, b"v=0\r\nnot sdp", BEARER)[0] == 400
    assert http_request("POST", url, offer(H264, OPUS), {**BEARER, "Content-Type": "text/plain"})[0] == 415
    status, headers, _ = http_request("OPTIONS", url)
    assert status == 204 and headers["Access-Control-Allow-Methods"] == "POST, DELETE, OPTIONS"
    assert headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    status, headers, _ = http_request("PATCH", url + "/abc", b"", SDP_HEADERS)
    assert status == 405 and headers["Allow"] == "DELETE"
    refused = whip(url, "no-token", token=None)
    assert refused.status()["status"] == 401
    metrics = http_get(whip_ingest.control + "/metrics")[1].decode()
    assert 'streamops_ingest_whip_refused_total{reason="unauthorized",role="primary",stream="cam"} 3.0' in metrics
    assert 'reason="offer"' in metrics
    assert KEY not in whip_ingest.logs()
    # What the operator turns into a WhipPublisherRefused Event: how many, and the last answer.
    webrtc = wait_for(lambda: (w := whip_ingest.status()["webrtc"])["whipRefused"] >= 7 and w, timeout=5)
    assert webrtc["lastWhipRefusal"].startswith("401 ") and KEY not in json.dumps(webrtc)


def test_a_stream_without_whip_refuses_it(ingest_factory: Callable[..., Ingest]) -> None:
    ingest = ingest_factory()  # rtmp and srt, no WebRTC
    status, _, body = http_request("POST", ingest.whip_url, offer(H264, OPUS), BEARER)
    assert status == 403
    assert body.decode().strip() == "this stream does not take WHIP (source.push.protocols has no whip)"


def test_one_publisher_at_a_time_across_whip_and_rtmp(whip_ingest: Ingest, whip: Any, tmp_path: Path) -> None:
    first = whip(whip_ingest.whip_url, "first")
    first.wait_connected(timeout=15)
    whip_ingest.wait_live(timeout=10)
    status, _, body = http_request("POST", whip_ingest.whip_url, offer(H264, OPUS), BEARER)
    assert status == 409 and b"another publisher (whip) is live" in body
    with Publisher(whip_ingest.rtmp_url(), log_path=tmp_path / "rtmp.log", duration=10):
        wait_for(lambda: whip_ingest.status()["refusedPublishers"] >= 1, timeout=10, what="RTMP refused")
        assert whip_ingest.status()["source"] == "whip"
    first.stop()
    wait_for(lambda: not whip_ingest.status()["live"], timeout=5, what="not live after DELETE")
    with Publisher(whip_ingest.rtmp_url(), log_path=tmp_path / "rtmp2.log"):
        assert whip_ingest.wait_live(timeout=10)["source"] == "rtmp"
        status, _, body = http_request("POST", whip_ingest.whip_url, offer(H264, OPUS), BEARER)
        assert status == 409 and body.decode().strip() == (
            "another publisher (rtmp) is live on this stream key: one publisher at a time"
        )


def test_a_silent_rtmp_session_is_displaced_by_a_whip_publisher(
    ingest_factory: Callable[..., Ingest], whip: Any, tmp_path: Path
) -> None:
    """RTMP's standby rule for WHIP too: a frozen publisher's session (not live, not yet cut: the
    default 10 s timeout) does not hold the key; the newcomer's media ends it."""
    ingest = running(ingest_factory(webrtc={}, source=WHIP_STREAM["source"]))
    with Publisher(ingest.rtmp_url(), log_path=tmp_path / "rtmp.log") as rtmp:
        ingest.wait_live(timeout=10)
        with rtmp.frozen():
            wait_for(lambda: not ingest.status()["live"], timeout=5, what="the frozen RTMP session silent")
            publisher = whip(ingest.whip_url)
            publisher.wait_connected(timeout=15)
            live = wait_for(lambda: (s := ingest.status())["live"] and s, timeout=10, what="live again")
            assert live["source"] == "whip"
    assert "whip publisher displaces the silent rtmp session" in ingest.logs()


# --- (c) the session's end -----------------------------------------------------------------------------


def test_delete_ends_the_session_and_a_new_post_is_live_again(whip_ingest: Ingest, whip: Any) -> None:
    publisher = whip(whip_ingest.whip_url, "first")
    publisher.wait_connected(timeout=15)
    whip_ingest.wait_live(timeout=10)
    publisher.stop()  # whip-push DELETEs its session
    assert publisher.status().get("deleteStatus") == 200
    wait_for(lambda: not whip_ingest.status()["live"], timeout=5, what="not live after DELETE")
    again = whip(whip_ingest.whip_url, "again")
    again.wait_connected(timeout=15)
    assert whip_ingest.wait_live(timeout=10)["source"] == "whip"


def test_a_vanished_publisher_frees_the_key_once_its_session_times_out(whip_ingest: Ingest, whip: Any) -> None:
    """No DELETE: the silence watch ends the session (publisherTimeoutSeconds 2) and the worker
    deletes the component's session, so the next POST is answered at once (not after ICE's 15 s)."""
    gone = whip(whip_ingest.whip_url, "gone")
    gone.wait_connected(timeout=15)
    whip_ingest.wait_live(timeout=10)
    gone.vanish()
    wait_for(lambda: not whip_ingest.status()["live"], timeout=10, what="not live after the publisher vanished")
    wait_for(lambda: not webrtc_status(whip_ingest)["whipPublisher"], timeout=6, what="the component's session deleted")
    back = whip(whip_ingest.whip_url, "back")
    assert back.wait_connected(timeout=15)["status"] == 201
    assert whip_ingest.wait_live(timeout=10)["source"] == "whip"


# --- (d) WHEP viewers ------------------------------------------------------------------------------------


def smooth(watch: Callable[[], dict[str, Any]], viewers: int, fps: float, audio_pps: float = -1) -> dict[str, Any]:
    """Every viewer connected, each at more than `fps` (and `audio_pps` audio packets a second) over
    the window: watched again while a rate alone falls short (one window's rate on a loaded machine;
    the figures are bench-webrtc's)."""

    def rates_hold(s: dict[str, Any]) -> bool:
        return bool(s["fpsMin"] > fps and s["audioPacketsPerSecondMin"] > audio_pps)

    seen = measured_until(watch, lambda s: s["connected"] != viewers or rates_hold(s), 60, what=f"> {fps} fps")
    assert seen["connected"] == viewers and rates_hold(seen), seen
    return seen


def whep_live(ingest: Ingest) -> None:
    wait_for(lambda: webrtc_status(ingest)["whepLive"], timeout=15, what="WHEP live")


def test_whep_viewers_of_an_rtmp_stream_and_of_a_whip_stream(whip_ingest: Ingest, whip: Any, tmp_path: Path) -> None:
    status, headers, body = http_request("POST", whip_ingest.whep_url, offer(H264, OPUS), SDP_HEADERS)
    assert status == 404 and body.decode().strip() == "the stream is not live"
    assert headers["Access-Control-Allow-Origin"] == "*"
    with Publisher(whip_ingest.rtmp_url(), log_path=tmp_path / "rtmp.log"):
        whip_ingest.wait_live(timeout=10)
        whep_live(whip_ingest)
        smooth(lambda: watch_whep(whip_ingest.http, viewers=2), viewers=2, fps=20, audio_pps=30)
        assert not webrtc_status(whip_ingest)["whepTranscoded"]
    wait_for(lambda: not whip_ingest.status()["live"], timeout=10, what="RTMP ended")
    publisher = whip(whip_ingest.whip_url)
    publisher.wait_connected(timeout=15)
    whip_ingest.wait_live(timeout=10)
    smooth(lambda: watch_whep(whip_ingest.http), viewers=1, fps=20)


def test_b_frames_are_encoded_again_for_whep(ingest_factory: Callable[..., Ingest], tmp_path: Path) -> None:
    ingest = running(ingest_factory(webrtc={"bFrames": "transcode"}))
    with Publisher(ingest.rtmp_url(), log_path=tmp_path / "rtmp.log", encode_args=["-bf", "3"]):
        ingest.wait_live(timeout=10)
        whep_live(ingest)
        assert webrtc_status(ingest)["whepTranscoded"]
        # The viewer gets the re-encoded video, continuously: how fast a real-time libx264 re-encode
        # keeps up is the benchmark's (bench-media); on 2 cores under the whole suite it gave 18 fps
        # of the 30 (CI of 2026-11-27, 3 workers), so the bar here is "plays", not a frame rate.
        smooth(lambda: watch_whep(ingest.http, window=4.0), viewers=1, fps=10)


def test_b_frames_refused_say_why(ingest_factory: Callable[..., Ingest], tmp_path: Path) -> None:
    ingest = running(ingest_factory(webrtc={"bFrames": "refuse"}))
    with Publisher(ingest.rtmp_url(), log_path=tmp_path / "rtmp.log", encode_args=["-bf", "3"]):
        ingest.wait_live(timeout=10)
        problem = wait_for(lambda: webrtc_status(ingest)["whepProblem"], timeout=10, what="whepProblem")
        assert problem == "the source has B-frames, which WebRTC players cannot play; playback.webrtc.bFrames is refuse"
        assert not webrtc_status(ingest)["whepLive"]
        status, _, body = http_request("POST", ingest.whep_url, offer(H264, OPUS), SDP_HEADERS)
        assert status == 409 and body.decode().strip() == problem


# --- constant rendition sizes ------------------------------------------------------------------------------


def picture_size(path: Path) -> tuple[int, int] | None:
    """Width and height of a picture the ingest (re)writes, None while it is not readable."""
    try:
        streams = ffprobe_streams(path, timeout=5)
    except Exception:  # absent, or caught mid-write
        return None
    return (streams[0]["width"], streams[0]["height"]) if streams else None


def test_renditions_keep_their_size_when_the_publisher_lowers_its_resolution(
    ingest_factory: Callable[..., Ingest], tmp_path: Path
) -> None:
    # 640x360 going down to 320x180 under a 360p + 180p ladder (s11; it was 1280x720 to 640x360 under
    # 720p + 360p): the same claim, one rendition at the source's first size and one below it, at a
    # quarter of the pixels the worker transcodes and the test encodes (32.3 s in ci62, the transcoder
    # behind the source on a loaded machine).
    ladder = [
        {"name": "360p", "height": 360, "videoBitrateKbps": 600, "audioBitrateKbps": 96},
        {"name": "180p", "height": 180, "videoBitrateKbps": 200, "audioBitrateKbps": 64},
    ]
    # A screenshot every second: it is how the test knows the ingest saw the source go down, and
    # with the default 10 s the one shot after the switch could fall after the 8 s file ended
    # (CI, 2026-11-27: the last shot was still the bigger part's). The silence watch at 30 s, not the
    # file's 2: it judges the publisher by FFmpeg's output, and a loaded machine's transcode ran at
    # 0.57x, sent no feed for 2 s and the session was ended mid-file (CI, 2026-11-27, twice).
    ingest = running(
        ingest_factory(
            webrtc={"whep": False},
            transcoding={"renditions": ladder},
            screenshots={"enabled": True, "intervalSeconds": 1},
            **{**WHIP_STREAM, "publisherTimeoutSeconds": 30},
        )
    )
    media = resolution_switch(tmp_path, sizes=("640x360", "320x180"))
    publisher = WhipPublisher(ingest.whip_url, tmp_path / "whip", token=KEY)
    publisher.source = FileRtpSender(publisher, media)
    with publisher:
        publisher.wait_connected(timeout=15)
        ingest.wait_live(timeout=10)
        publisher.source.wait(timeout=20)  # the whole file sent
        # The transcoder may run behind the source on a loaded machine (CI, twice: the last shot
        # was still the bigger part's): the session stays up until it has drawn the smaller part.
        shot_path = tmp_path / "ingest" / "media" / "screenshot.jpg"
        wait_for(lambda: picture_size(shot_path) == (320, 180), 20, 0.25, "a screenshot of the 320x180 part")
    sizes: dict[str, set[tuple[int, int]]] = {}
    for rendition in ("360p", "180p"):
        for segment in sorted((tmp_path / "ingest" / "media" / "sessions").glob(f"*/ts/{rendition}/*.ts")):
            for s in ffprobe_streams(segment):
                if s["codec_type"] == "video":
                    sizes.setdefault(rendition, set()).add((s["width"], s["height"]))
    assert sizes == {"360p": {(640, 360)}, "180p": {(320, 180)}}
    shot = ffprobe_streams(tmp_path / "ingest" / "media" / "screenshot.jpg")[0]
    assert (shot["width"], shot["height"]) == (320, 180), "the source did go down to 320x180"

"""Enhanced RTMP (FourCC video in FLV, as OBS 30+ sends HEVC and AV1) through the real ingest
worker: the publisher is FFmpeg 7.1 pushing what Debian's libx265 encoded, with `fourCcList` in its
connect command as OBS sends it; the ingest's outputs are read back with ffprobe; the recorder and
the pusher run on the ingest's feed; a WHEP viewer (pion) gets H.264 encoded again. Every process
is stopped by PID, also on failure. A pusher whose target takes H.264 only sends nothing of an HEVC
source and says why (codec-not-accepted)."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.peers import Publisher, VideoCodec, ffprobe_streams
from devtools.media.webrtc import watch_whep
from devtools.media.workers import Ingest
from devtools.processes import proc_tree
from devtools.waits import measured_until, wait_for

DASH_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
# What OBS 30 announces in its connect command (Enhanced RTMP v1, `fourCcList`).
OBS_FOURCCS = ["-rtmp_enhanced_codecs", "hvc1,av01,vp09"]


def video_of(path: Path | str) -> dict[str, Any]:
    return next(s for s in ffprobe_streams(path) if s["codec_type"] == "video")


def fetched(ingest: Ingest, *paths: str, into: Path) -> Path:
    """The bytes of `paths` (e.g. an init segment and a media segment) joined into one file."""
    data = b""
    for path in paths:
        code, body = http_get(f"{ingest.http}{path}")
        assert code == 200, (path, code)
        data += body
    into.write_bytes(data)
    return into


def newest_segment(ingest: Ingest, variant: str, ext: str) -> str:
    def found() -> str | None:
        code, body = http_get(f"{ingest.http}/hls/{variant}/index.m3u8")
        names = re.findall(rf"^(\S+\.{ext})$", body.decode(), re.M) if code == 200 else []
        return names[-1] if len(names) >= 2 else None

    return str(wait_for(found, timeout=20, what=f"two {variant} segments"))


def mpd_codecs(ingest: Ingest) -> list[str | None]:
    """The `codecs` of the MPD's Representations, once the MPD is written (its first segment done)."""
    _, mpd = wait_for(lambda: (r := http_get(f"{ingest.http}/dash/manifest.mpd"))[0] == 200 and r, 20, what="MPD")
    return [r.get("codecs") for r in ET.fromstring(mpd).iterfind(".//d:Representation", DASH_NS)]


def obs_publisher(ingest: Ingest, codec: VideoCodec, tmp_path: Path) -> Publisher:
    """An OBS-shaped publisher of `codec` into `ingest` (not started)."""
    url = ingest.rtmp_url()
    return Publisher(
        url, codec=codec, size="640x360", gop_seconds=1, output_args=OBS_FOURCCS, log_path=tmp_path / "pub.log"
    )


def live_in(ingest: Ingest, codec: str) -> dict[str, Any]:
    """The ingest's status once it is live and says the source's codec, which must be `codec`."""
    ingest.wait_live(timeout=15)
    status = wait_for(lambda: (s := ingest.status())["videoCodec"] and s, timeout=10, what="the codec")
    assert (status["videoCodec"], status["videoWidth"], status["videoHeight"]) == (codec, 640, 360), status
    return dict(status)


def recorded_video(recorder: Any) -> dict[str, Any]:
    """The video stream of the one video the recorder made, once stopped."""
    final = wait_for(lambda: (s := recorder.post_stop()) and s["videos"] and s, timeout=60, what="finalised")
    [video] = final["videos"]
    return video_of(recorder.root / video["path"])


def restreamed_codec(pusher: Any, target: Ingest) -> str:
    """The codec the pusher's target ingest receives (it reports it once live)."""
    pusher.wait_live()
    target.wait_live(timeout=20)
    return str(wait_for(lambda: target.status()["videoCodec"], timeout=10, what="the target's codec"))


def test_hevc_from_an_obs_shaped_publisher_is_served_recorded_and_restreamed_as_hevc(
    ingest_factory: Callable[..., Ingest], record_workers: Any, pushers: Any, tmp_path: Path
) -> None:
    ingest = ingest_factory(dash=True, webrtc={"bFrames": "transcode"})
    target = ingest_factory("target", source={"push": {"protocols": ["rtmp"]}}, screenshots={"enabled": False})
    # The H.264-only target: a bare TCP listener that must see no connection at all.
    with obs_publisher(ingest, "hevc", tmp_path), socket.create_server(("127.0.0.1", 0)) as h264_only:
        assert live_in(ingest, "hevc")["source"] == "rtmp"
        recorder = record_workers("recorder", ingest.feed_url)
        app = target.rtmp_url().rsplit("/", 1)[0]
        pusher = pushers("pusher", ingest.feed_url, app, target.KEY, videoCodecs=["h264", "hevc"])
        refusing = pushers("refusing", ingest.feed_url, f"rtmp://127.0.0.1:{h264_only.getsockname()[1]}/live", "k2")

        # HLS in fMP4: HEVC as `hvc1` (Apple's HLS rules; Safari plays no `hev1`), and in MPEG-TS.
        segment = newest_segment(ingest, "cmaf", "m4s")
        cmaf = video_of(fetched(ingest, "/hls/cmaf/init.mp4", f"/hls/cmaf/{segment}", into=tmp_path / "cmaf.mp4"))
        assert (cmaf["codec_name"], cmaf["codec_tag_string"], cmaf["width"]) == ("hevc", "hvc1", 640), cmaf
        ts = video_of(fetched(ingest, f"/hls/ts/{newest_segment(ingest, 'ts', 'ts')}", into=tmp_path / "seg.ts"))
        assert ts["codec_name"] == "hevc", ts

        # DASH: the MPD says hvc1 and its segments are HEVC.
        codecs = mpd_codecs(ingest)
        assert any(c and c.startswith("hvc1.") for c in codecs), codecs
        assert video_of(fetched(ingest, "/dash/init-0.m4s", into=tmp_path / "dash-init.mp4"))["codec_name"] == "hevc"

        # The screenshot decodes HEVC; a WHEP viewer gets H.264 encoded from it.
        wait_for(lambda: http_get(f"{ingest.http}/screenshot.jpg")[0] == 200, timeout=15, what="a screenshot")
        wait_for(lambda: (ingest.status().get("webrtc") or {}).get("whepLive"), timeout=20, what="WHEP live")
        assert ingest.status()["webrtc"]["whepTranscoded"]
        # Watched again while the frame rate alone falls short (one window's rate on a loaded machine).
        seen = measured_until(
            lambda: watch_whep(ingest.http, window=4.0), lambda s: s["connected"] != 1 or s["fpsMin"] > 10, 60
        )
        assert seen["connected"] == 1 and seen["fpsMin"] > 10, seen

        # The restream goes on as HEVC in Enhanced RTMP: the target (an ingest: gortmplib's front,
        # FFmpeg 7.1) is live with it.
        assert restreamed_codec(pusher, target) == "hevc"
        wait_for(lambda: (recorder.status()["duration"] or 0) >= 4, timeout=30, what="4 s recorded")

        # The pusher with the default targetVideoCodecs (h264), on the same feed all along (its feed
        # read again every 3 s): it says why, started no FFmpeg, and nothing reached its target.
        refused = refusing.status()
        assert (refused["state"], refused["live"], refused["bytesSent"], refused["failures"]) == (
            "codec-not-accepted",
            False,
            0,
            0,
        ), refused
        assert refused["lastError"] == (
            "the source's video is hevc and the target takes h264 (spec.targetVideoCodecs): add hevc if the "
            "target takes HEVC over Enhanced RTMP, or set spec.source: transcoded to send the ladder's H.264"
        )
        assert refusing.logs().count("not pushing:") == 1, "said once, not at every read of the feed"
        assert proc_tree(refusing.process.pid)[1:] == [], "no FFmpeg ran"
        h264_only.setblocking(False)
        with pytest.raises(BlockingIOError):  # nobody connected
            h264_only.accept()
    recorded = recorded_video(recorder)
    assert (recorded["codec_name"], recorded["codec_tag_string"]) == ("hevc", "hvc1"), recorded


def test_av1_is_served_in_fmp4_recorded_and_restreamed_as_av1_and_refused_in_mpegts(
    ingest_factory: Callable[..., Ingest], record_workers: Any, pushers: Any, tmp_path: Path
) -> None:
    ingest = ingest_factory(dash=True, hls={"latencyMode": "low"})
    target = ingest_factory("target", source={"push": {"protocols": ["rtmp"]}}, screenshots={"enabled": False})
    with obs_publisher(ingest, "av1", tmp_path):
        live_in(ingest, "av1")
        # The feed carries AV1 (the workers' own MPEG-TS label): recorder, pusher and screenshots read it.
        recorder = record_workers("recorder", ingest.feed_url)
        pusher = pushers(
            "pusher", ingest.feed_url, target.rtmp_url().rsplit("/", 1)[0], target.KEY, videoCodecs=["h264", "av1"]
        )

        # LL-HLS (the packager's fMP4 parts) as av01; no MPEG-TS HLS, and the refusal says why.
        part = wait_for(
            lambda: re.findall(
                r'#EXT-X-PART:DURATION=[\d.]+,URI="([^"]+)"', http_get(f"{ingest.http}/hls/cmaf/index.m3u8")[1].decode()
            ),
            timeout=20,
            what="LL-HLS parts",
        )[-1]
        ll = video_of(fetched(ingest, "/hls/cmaf/init.mp4", f"/hls/cmaf/{part}", into=tmp_path / "part.mp4"))
        assert (ll["codec_name"], ll["codec_tag_string"], ll["width"]) == ("av1", "av01", 640), ll
        code, refusal = http_get(f"{ingest.http}/hls/ts/index.m3u8")
        assert (code, refusal.decode()) == (
            409,
            "the source's video is av1, which HLS carries in fMP4 only: play hls/cmaf/index.m3u8",
        )

        codecs = mpd_codecs(ingest)
        assert any(c and c.startswith("av01.") for c in codecs), codecs

        wait_for(lambda: http_get(f"{ingest.http}/screenshot.jpg")[0] == 200, timeout=15, what="a screenshot")
        assert restreamed_codec(pusher, target) == "av1"
        wait_for(lambda: (recorder.status()["duration"] or 0) >= 4, timeout=30, what="4 s recorded")
    recorded = recorded_video(recorder)
    assert (recorded["codec_name"], recorded["codec_tag_string"]) == ("av1", "av01"), recorded

"""Media paths that had only run on loopback or a host-network node, on the pod-network cluster as
users run them (issue 25): a pull source on the LAN, a transcoding ladder's renditions played through
the Ingress, a restream to an RTMPS server on the LAN, HEVC and AV1 encoders on the LAN (issue 40).
(SRT targets on the LAN: test_secrets.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from devtools.catalog import livestream, pull, restream
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import OUTSIDE_IP
from devtools.cluster.release import Release
from devtools.media.browser import Browser
from devtools.media.hls import first_segment, media_playlist
from devtools.media.peers import NginxRtmp, Publisher, TlsForwarder, ffprobe_streams
from devtools.media.player_page import PLAYING_HLS, assert_decodes
from devtools.waits import eventually

from tests.multinode.test_streaming import rtmp_url, start_stream, wait_live
from tests.multinode.test_webrtc_lan import opened

pytestmark = pytest.mark.timeout(600)


def test_a_pull_source_on_the_lan_goes_live_and_plays(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher], tmp_path: Path
) -> None:
    """The origin is an RTMP server on the LAN with an encoder publishing into it; the ingest Pod
    pulls from it, and a viewer on the LAN plays the HLS at the URL status shows."""
    ns = namespace
    with NginxRtmp(workdir=tmp_path / "origin", address=OUTSIDE_IP, netns=cluster.network.outside) as origin:
        encoder = cluster.lan_encoder(origin.rtmp_url(name="origin")).start()
        publishers.append(encoder)
        eventually(lambda: origin.publishing() == {"origin"}, timeout=30, what="the origin has the stream")
        cluster.apply(ns, livestream("cam", source=pull(origin.rtmp_url(name="origin"))))
        stream = wait_live(cluster, ns, timeout=90)
        # Video too: 100 ms of probing pulled nginx-rtmp's audio only (status said no video codec).
        cluster.wait_status("lst", ns, "cam", lambda o: o["status"].get("videoCodec") == "h264", "video pulled")
        url = stream["status"]["playback"]["hlsCmafUrl"]
        seg = eventually(lambda: first_segment(url, cluster.lan_get), timeout=60, interval=0.5, what="HLS")
        assert len(seg[1]) > 1000


def test_a_transcoding_ladder_plays_through_the_ingress(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher]
) -> None:
    """Two x264 renditions of a 360p encoder on the LAN: the multivariant playlist through Traefik
    lists both, and each rendition's media playlist and segments are served through it."""
    ns = namespace
    host = "ladder.streams.example"
    ladder = {
        "renditions": [
            {"name": "240p", "height": 240, "videoBitrateKbps": 400, "audioBitrateKbps": 64},
            {"name": "144p", "height": 144, "videoBitrateKbps": 150, "audioBitrateKbps": 48},
        ]
    }
    stream = start_stream(cluster, ns, transcoding=ladder, playback={"ingress": {"className": "traefik", "host": host}})
    cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers)
    wait_live(cluster, ns, timeout=60)
    stream = cluster.wait_status(
        "lst", ns, "cam", lambda o: o["status"]["playback"]["hlsCmafUrl"].startswith(f"http://{host}/"), "route URLs"
    )
    master_url = stream["status"]["playback"]["hlsCmafUrl"]

    def variants() -> list[str] | None:
        status, body = cluster.lan_get_via_ingress(master_url)
        text = body.decode(errors="replace") if status == 200 else ""
        uris = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        return uris if len(uris) == 2 and "#EXT-X-STREAM-INF" in text else None

    uris = eventually(variants, timeout=60, interval=1, what="a multivariant playlist with both renditions")
    base = master_url.rsplit("/", 1)[0]
    for uri in uris:
        variant = f"{base}/{uri}"
        playlist, segments = eventually(
            lambda v=variant: (r := media_playlist(v, cluster.lan_get_via_ingress)) and r[1] and r,
            timeout=60, interval=1, what=f"segments of {uri}",
        )  # fmt: skip
        seg = first_segment(variant, cluster.lan_get_via_ingress)
        assert seg and len(seg[1]) > 500, f"{uri}: {playlist} {segments[:3]}"


def test_a_restream_to_an_rtmps_server_on_the_lan(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher], tmp_path: Path
) -> None:
    """TLS terminated on the LAN (the target's address), relayed to nginx-rtmp: the pusher Pod
    speaks RTMPS across the pod network to a server outside the cluster, verifying the target's
    certificate (an IP SAN of the LAN address) against the CA from tls.caSecretRef."""
    ns = namespace
    stream = start_stream(cluster, ns)
    cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers)
    wait_live(cluster, ns)
    with (
        NginxRtmp(workdir=tmp_path / "nginx") as nginx,
        TlsForwarder(nginx.rtmp_port, tmp_path / "tls", address=OUTSIDE_IP, netns=cluster.network.outside) as tls,
    ):
        assert tls.url().startswith(f"rtmps://{OUTSIDE_IP}:")
        ca = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "target-ca"}}
        cluster.apply(ns, {**ca, "stringData": {"ca.crt": tls.cert.read_text()}})
        cluster.allow_reference(ns, "target-ca")
        cluster.apply(ns, restream("out", uri=tls.url(), tls={"caSecretRef": {"name": "target-ca"}}))
        cluster.wait_status("rst", ns, "out", lambda o: o["status"].get("live"), "restream live", 90)
        eventually(lambda: nginx.publishing(), timeout=30, what="nginx-rtmp behind TLS on the LAN receives")
        assert tls.connections >= 1, "through the TLS listener on the LAN"


@pytest.mark.parametrize("codec", ["hevc", "av1"])
def test_an_enhanced_rtmp_encoder_on_the_lan_goes_live_in_its_codec(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher], tmp_path: Path, codec: str
) -> None:
    """HEVC and AV1 as OBS 30 sends them (Enhanced RTMP, fourCcList in connect) from the LAN into the
    worker image's FFmpeg 7.1: live, status.videoCodec says the codec, and what a viewer on the LAN
    gets of the CMAF playlist (init segment + first segment) is that codec, hvc1 / av01. AV1 is also
    played by the player page (hls.js) in Chromium on the LAN; Chromium on Linux has no HEVC decoder
    without hardware (what the page says then: tests/browser/test_player_codecs.py)."""
    ns = namespace
    stream = start_stream(cluster, ns, hls={"segmentSeconds": 1})  # the page starts 3 segments from the edge
    url = rtmp_url(cluster, ns, stream)
    obs = ["-rtmp_enhanced_codecs", "hvc1,av01,vp09"]
    make = lambda: Publisher(url, codec=codec, size="640x360", extra_args=obs, netns=cluster.network.outside)  # noqa: E731
    cluster.publish_from_lan(url, publishers, make=make)
    stream = cluster.wait_status("lst", ns, "cam", lambda o: o["status"].get("videoCodec") == codec, "videoCodec")
    playlist = stream["status"]["playback"]["hlsCmafUrl"]
    seg = eventually(lambda: first_segment(playlist, cluster.lan_get), timeout=60, interval=0.5, what="a segment")
    status, init = cluster.lan_get(playlist.rsplit("/", 1)[0] + "/init.mp4")
    assert status == 200
    path = tmp_path / "cmaf.mp4"
    path.write_bytes(init + seg[1])
    [video] = [s for s in ffprobe_streams(path) if s["codec_type"] == "video"]
    tag = {"hevc": "hvc1", "av1": "av01"}[codec]
    assert (video["codec_name"], video["codec_tag_string"], video["width"]) == (codec, tag, 640), video
    if codec == "av1":
        nodes = [node.ip for node in cluster.network.nodes]
        with Browser(netns=cluster.network.outside, allowed_hosts=nodes) as browser:
            page = opened(browser, stream["status"]["playback"]["playerUrl"] + "?format=hls")
            try:
                page.wait_until(PLAYING_HLS, timeout=60)
                assert_decodes(page, width=640)  # dav1d inside Chromium
            finally:
                page.close()

"""Media paths that had only run on loopback or a host-network node, on the pod-network cluster as
users run them (issue 25): a pull source on the LAN, a transcoding ladder's renditions played through
the Ingress, Restreams to RTMPS and RTMP servers on the LAN sharing one pusher Pod (issue 53), HEVC
and AV1 encoders on the LAN (issue 40).
(SRT targets on the LAN: test_secrets.py.)
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from devtools.catalog import livestream, pull, restream
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import OUTSIDE_IP
from devtools.cluster.release import Release
from devtools.media.browser import Browser
from devtools.media.hls import first_segment, media_playlist
from devtools.media.peers import NginxRtmp, Publisher, TcpForwarder, TlsForwarder, ffprobe_streams
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


def test_restreams_to_the_lan_share_one_pusher_and_never_reconnect_each_other(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher], tmp_path: Path
) -> None:
    """A live stream's Restreams to servers on the LAN run in its one pusher Pod (issue 53,
    docs/design/shared-pusher.md): one RTMPS target (TLS terminated on the LAN address, its
    certificate verified against the CA from tls.caSecretRef) and two RTMP targets, each behind a
    relay on the LAN that counts the connections it accepted, in front of nginx-rtmp. With two
    targets live a third is added, then one deleted: the others' connections are never touched,
    and the Pod is the same throughout."""
    ns = namespace
    stream = start_stream(cluster, ns)
    cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers)
    wait_live(cluster, ns)
    keys = {"tls": "key-tls-Pq71", "a": "key-a-Hq81", "c": "key-c-Vn55"}
    for name, key in keys.items():
        cluster.kubectl("create", "secret", "generic", f"key-{name}", "-n", ns, f"--from-literal=streamKey={key}")
        cluster.allow_reference(ns, f"key-{name}")
    with contextlib.ExitStack() as stack:
        nginx = stack.enter_context(NginxRtmp(workdir=tmp_path / "nginx"))
        lan = {"address": OUTSIDE_IP, "netns": cluster.network.outside}
        tls = stack.enter_context(TlsForwarder(nginx.rtmp_port, tmp_path / "tls", **lan))
        relays = {n: stack.enter_context(TcpForwarder(nginx.rtmp_port, tmp_path / f"relay-{n}", **lan)) for n in "ac"}
        assert tls.url().startswith(f"rtmps://{OUTSIDE_IP}:")
        ca = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "target-ca"}}
        cluster.apply(ns, {**ca, "stringData": {"ca.crt": tls.cert.read_text()}})
        cluster.allow_reference(ns, "target-ca")

        def target(name: str) -> dict[str, Any]:
            if name == "tls":
                spec = {"uri": tls.url(), "tls": {"caSecretRef": {"name": "target-ca"}}}
            else:
                spec = {"uri": relays[name].url()}
            return restream(name, streamKeySecretRef={"name": f"key-{name}"}, **spec)

        def live(*names: str) -> None:
            for name in names:
                cluster.wait_status("rst", ns, name, lambda o: o["status"].get("live"), f"{name} live", 90)
            want = {keys[n] for n in names}
            eventually(lambda: nginx.publishing() == want, timeout=30, what=f"nginx-rtmp receives {sorted(want)}")

        cluster.apply(ns, target("tls"), target("a"))
        live("tls", "a")
        pod = cluster.get("pods", ns, "cam-pusher")
        cluster.apply(ns, target("c"))
        live("tls", "a", "c")
        cluster.kubectl("delete", "rst", "a", "-n", ns)
        live("tls", "c")
        assert tls.connections == 1, "the RTMPS target was never reconnected"
        assert relays["a"].connections == 1 and relays["c"].connections == 1
        for name in ("tls", "c"):
            assert cluster.get("restreams", ns, name)["status"]["reconnects"] == 0
        assert cluster.get("pods", ns, "cam-pusher")["metadata"]["uid"] == pod["metadata"]["uid"], "one Pod throughout"


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
    make = lambda: Publisher(url, codec=codec, size="640x360", output_args=obs, netns=cluster.network.outside)  # noqa: E731
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

"""HTML overlays on the 2-node pod-network cluster (issue 29): the chart's operator gives a transcoded
LiveStream's ingest Pod the renderer sidecar from the `streamops-overlay` image (Debian's Chromium,
built here from a root filesystem), which loads a page from a server on the cluster's LAN and draws it
into the volume it shares with the ingest container; the ingest composites it into the rendition.

The page is a box whose colour a JSON endpoint sets (a live widget); the test reads the rendition's
newest CMAF segment from the LAN, decodes it and finds the box in the colour the page shows, then
changes the colour and finds the new one: the sidecar, its confinement (only the page's host is
allowed) and the compositing all ran in the Pod. What the media tier proves in detail (text read
back, origin without the overlay, failing pages): tests/media/test_overlays.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from devtools.address_plan import OUTSIDE_IP
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.media.overlays import PageServer, box_frames
from devtools.media.peers import Publisher
from devtools.waits import eventually

from devtools import netns
from tests.multinode.test_streaming import rtmp_url, start_stream, stream_live, wait_live

pytestmark = pytest.mark.timeout(600)

# A box filling the page, in the colour /color.json says (polled like a scoreboard's data).
WIDGET = """<!doctype html><html><body style="margin:0">
<div id="box" style="width:100vw;height:100vh;background:#ff00ff"></div>
<script>
setInterval(async () => {
  const answer = await fetch('/color.json', {cache: 'no-store'});
  document.getElementById('box').style.background = (await answer.json()).color;
}, 200);
</script></body></html>"""

MAGENTA, GREEN = (255, 0, 255), (0, 255, 0)
# 360p from the LAN encoder's 640x360: the overlay at 5 %, 5 %, 40 % x 20 % is 256x72 at (32, 18);
# its inner part, away from the edges that scaling and chroma subsampling blend with the picture.
INNER_BOX = (48, 26, 224, 56)


def mean_rgb(frame: bytes) -> tuple[float, float, float]:
    n = len(frame) // 3
    return tuple(sum(frame[c::3]) / n for c in range(3))  # type: ignore[return-value]


def shows(frame: bytes, colour: tuple[int, int, int]) -> bool:
    return all(abs(m - c) < 48 for m, c in zip(mean_rgb(frame), colour, strict=True))


def newest_frames(cluster: LocalCluster, rendition_url: str, into: Path) -> list[bytes]:
    """The overlay's inner box in every frame of the rendition's newest CMAF segment, from the LAN."""
    code, playlist = cluster.lan_get(f"{rendition_url}/index.m3u8")
    segments = re.findall(r"^(seg-\d+\.m4s)$", playlist.decode(), re.M) if code == 200 else []
    if not segments:
        return []
    init, segment = cluster.lan_get(f"{rendition_url}/init.mp4"), cluster.lan_get(f"{rendition_url}/{segments[-1]}")
    if init[0] != 200 or segment[0] != 200:
        return []
    into.write_bytes(init[1] + segment[1])
    return box_frames(into, INNER_BOX)


def test_the_renderer_sidecar_draws_a_lan_page_into_the_rendition(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher], tmp_path: Path
) -> None:
    ns = namespace
    began = time.monotonic()
    pulled = cluster.pull_images([cluster.overlay_image])  # from the registry, before the stream starts
    pull_seconds = time.monotonic() - began
    with netns.entered(cluster.network.outside):  # the server's socket on the LAN address
        pages = PageServer(OUTSIDE_IP)
    with pages:
        pages.serve("/", WIDGET)
        pages.serve("/color.json", json.dumps({"color": "#ff00ff"}), content_type="application/json")
        stream = start_stream(
            cluster,
            ns,
            transcoding={"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]},
            hls={"segmentSeconds": 1, "mpegts": False},
            screenshots={"enabled": False},
            overlays=[{"name": "widget", "url": pages.url("/"), "left": 5, "top": 5, "width": 40, "height": 20}],
        )
        pod = cluster.get("pods", ns, "cam-ingest") or {}
        containers = {c["name"]: c["image"] for c in pod["spec"]["containers"]}
        assert containers.get("overlay") == cluster.image_ref(cluster.overlay_image), containers

        def rendering() -> dict[str, Any] | None:
            got = cluster.get("livestreams", ns, "cam") or {}
            overlays = got.get("status", {}).get("overlays") or []
            return got if [o.get("state") for o in overlays] == ["rendering"] else None

        found = eventually(rendering, timeout=90, interval=1, what="status.overlays: widget rendering")
        assert condition(found, "Overlays")["status"] == "True", found["status"]  # type: ignore[index]
        assert any(path == "/" for path in pages.requests), "the page was loaded from the LAN server"

        cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers, live=stream_live(cluster, ns))
        live = wait_live(cluster, ns, timeout=60)
        rendition_url = live["status"]["playback"]["hlsCmafUrl"].rsplit("/", 1)[0] + "/360p"

        def in_output(colour: tuple[int, int, int]) -> bool:
            frames = newest_frames(cluster, rendition_url, tmp_path / "segment.mp4")
            return bool(frames) and sum(shows(f, colour) for f in frames) >= len(frames) - 2

        eventually(lambda: in_output(MAGENTA), timeout=60, interval=0.5, what="the magenta box in the 360p output")
        pages.serve("/color.json", json.dumps({"color": "#00ff00"}), content_type="application/json")
        changed = time.monotonic()
        eventually(lambda: in_output(GREEN), timeout=60, interval=0.5, what="the box turned green in the output")
        print(
            f"\n# overlay image pulled from the LAN registry by both nodes in {pull_seconds:.1f}s ({pulled}); "
            f"page change -> seen in a 360p segment from the LAN: {time.monotonic() - changed:.1f}s"
        )
        # The ingest's own container kept running (the stream never dropped for the overlay).
        statuses = {c["name"]: c for c in (cluster.get("pods", ns, "cam-ingest") or {})["status"]["containerStatuses"]}
        assert statuses["ingest"]["restartCount"] == 0 and statuses["overlay"]["restartCount"] == 0, statuses

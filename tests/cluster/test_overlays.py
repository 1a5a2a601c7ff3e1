"""HTML overlays through the operator: the ingest Pod's renderer sidecar and the shared volume run as
local processes (devtools.cluster.local_pods), a real publisher; what the renderer reports reaches
status.overlays, condition Overlays and one Warning Event, and the stream stays live and Ready;
switching an overlay off and on goes to the running ingest (POST /overlays), never restarts its Pod."""

from __future__ import annotations

import base64

from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import LocalPods
from devtools.media.overlays import PageServer, score_json, scoreboard_page
from devtools.media.peers import Publisher
from devtools.ports import free_port
from devtools.waits import eventually


def scoreboard(pages: PageServer, text: str) -> str:
    """The scoreboard page served at / showing `text`: its URL."""
    pages.serve("/", scoreboard_page(font_px=24))
    pages.serve("/score.json", score_json(text), content_type="application/json")
    return pages.url("/")


def overlaid(*overlays: dict) -> dict:
    """A stream with one small rendition (overlays need one) and `overlays`."""
    ladder = {"renditions": [{"name": "180p", "height": 180, "videoBitrateKbps": 200}]}
    return livestream("cam", screenshots={"enabled": False}, transcoding=ladder, overlays=list(overlays))


def test_a_failing_overlay_is_reported_and_the_stream_stays_on_air(
    cluster, operator, namespace, local_pods: LocalPods, publishers
):
    ns = namespace
    closed = free_port("tcp")
    with PageServer("127.0.0.1") as pages:
        url = scoreboard(pages, "HOME 3")
        cluster.apply(
            ns,
            overlaid(
                {"name": "score", "url": url, "left": 5, "top": 5, "width": 40, "height": 20},
                {"name": "down", "url": f"http://127.0.0.1:{closed}/", "left": 50, "width": 40, "height": 20},
                {"name": "later", "url": url, "width": 10, "height": 10, "enabled": False},
            ),
        )
        pod = eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="ingest Pod")
        assert [c["name"] for c in pod["spec"]["containers"]] == ["ingest", "overlay"]
        ingest = local_pods.start(ns, "cam-ingest")
        key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
        publishers.append(
            Publisher(f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}", size="320x180", rate=15).start()
        )

        def reported(o: dict) -> bool:
            states = {s["name"]: s["state"] for s in o.get("status", {}).get("overlays") or []}
            return o["status"].get("live") and states == {"score": "rendering", "down": "failing", "later": "disabled"}

        s = eventually(lambda: (o := cluster.get("livestreams", ns, "cam")) and reported(o) and o, timeout=45)
        down = next(o for o in s["status"]["overlays"] if o["name"] == "down")
        assert "ERR_CONNECTION_REFUSED" in down["message"]
        overlays = condition(s, "Overlays")
        assert (overlays["status"], overlays["reason"]) == ("False", "OverlayFailing")
        assert overlays["message"].startswith("overlay down is not drawn: net::ERR_CONNECTION_REFUSED")
        assert condition(s, "Ready")["status"] == "True" and condition(s, "Live")["status"] == "True"
        warnings = eventually(
            lambda: cluster.events(ns, "LiveStream", "cam", "OverlayFailing"), timeout=10, what="the Warning"
        )
        assert [e["type"] for e in warnings] == ["Warning"] and "overlay down" in warnings[0]["message"]


def test_switching_an_overlay_off_and_on_leaves_the_ingest_pod_running(cluster, operator, namespace, local_pods):
    ns = namespace
    with PageServer("127.0.0.1") as pages:
        url = scoreboard(pages, "HOME 1")
        cluster.apply(ns, overlaid({"name": "score", "url": url, "left": 5, "top": 5, "width": 40, "height": 20}))
        ingest = local_pods.start(ns, "cam-ingest")
        uid = ingest.pod["metadata"]["uid"]

        def states() -> dict[str, str]:
            o = cluster.get("livestreams", ns, "cam") or {}
            return {s["name"]: s["state"] for s in (o.get("status") or {}).get("overlays") or []}

        def switch(enabled: bool) -> None:
            patch = [{"op": "replace", "path": "/spec/overlays/0/enabled", "value": enabled}]
            cluster.patch("livestream", ns, "cam", patch, "json")

        def renderer(state: str) -> bool:  # what the sidecar itself says, through the ingest's /status
            return [(r["name"], r["state"]) for r in ingest.status().get("overlays") or []] == [("score", state)]

        # The renderer starts with every overlay off: "rendering" means the operator's switch arrived.
        eventually(lambda: states() == {"score": "rendering"}, timeout=45, what="the overlay drawn")
        assert ingest.status()["overlaysEnabled"] == ["score"]

        switch(False)
        eventually(lambda: ingest.status().get("overlaysEnabled") == [] and renderer("disabled"), timeout=10)
        eventually(lambda: states() == {"score": "disabled"}, timeout=5)
        switch(True)
        eventually(lambda: states() == {"score": "rendering"}, timeout=20, what="the overlay drawn again")
        assert renderer("rendering")
        pod = cluster.get("pods", ns, "cam-ingest")
        assert pod is not None and pod["metadata"]["uid"] == uid, "switched live, the ingest Pod kept"
        assert ingest.process is not None and ingest.process.poll() is None, "the same ingest process throughout"

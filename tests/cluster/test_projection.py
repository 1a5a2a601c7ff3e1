"""spec.playback.projection through the operator (docs/design/projection.md): the ingest Pod runs as
a local process (devtools.cluster.local_pods) with a real publisher; the operator sends the spec's
projection to the running ingest (POST /player-settings) and status.playback.projection says what
its player page renders; changing it while the stream is live restarts nothing."""

from __future__ import annotations

import base64

from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import LocalPods
from devtools.media.peers import Publisher
from devtools.waits import eventually


def test_a_live_stream_changes_its_projection_without_a_restart(
    cluster, operator, namespace, local_pods: LocalPods, publishers
):
    ns = namespace
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}, playback={"projection": "vr360"}))
    ingest = local_pods.start(ns, "cam-ingest")
    uid = ingest.pod["metadata"]["uid"]
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
    rtmp = f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}"
    publishers.append(Publisher(rtmp, size="320x180", rate=15).start())

    def shown(projection: str) -> dict | None:
        o = cluster.get("livestreams", ns, "cam") or {}
        status = o.get("status") or {}
        return o if status.get("live") and (status.get("playback") or {}).get("projection") == projection else None

    # The ingest starts regular; the operator's first look at its /status sends the spec's.
    eventually(lambda: shown("vr360"), timeout=45, what="vr360 live in status.playback.projection")
    assert ingest.status()["projection"] == "vr360"

    patch = [{"op": "replace", "path": "/spec/playback/projection", "value": "vr180"}]
    cluster.patch("livestream", ns, "cam", patch, "json")
    s = eventually(lambda: shown("vr180"), timeout=15, what="vr180 in status")
    assert ingest.status()["projection"] == "vr180" and ingest.status()["live"]
    assert condition(s, "RestartPending") is None, "nothing waits for a restart"
    pod = cluster.get("pods", ns, "cam-ingest")
    assert pod is not None and pod["metadata"]["uid"] == uid, "the ingest Pod kept"
    assert ingest.process is not None and ingest.process.poll() is None, "the same ingest process throughout"
    assert not cluster.events(ns, "LiveStream", "cam", "WorkerReplaced")

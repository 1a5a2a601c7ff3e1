"""A stream's Restreams share one pusher Pod (docs/design/shared-pusher.md), driven by the operator
against a real kube-apiserver, its workers run as local processes (see test_media_flow.py): a
Restream added to and one deleted from a live stream leave the other targets' connections alone,
counted at the targets (a relay in front of nginx-rtmp per target counts the connections it
accepted); the Pod goes with the last Restream."""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path

from devtools.catalog import livestream, restream
from devtools.cluster.local_pods import LocalPods
from devtools.media.peers import NginxRtmp, Publisher, TcpForwarder
from devtools.waits import eventually

KEYS = {"a": "key-a-Hq81Zt", "b": "key-b-Lx02Pw", "c": "key-c-Vn55Rc"}


def test_restreams_added_and_deleted_leave_the_other_targets_connected(
    cluster, operator, namespace, local_pods: LocalPods, publishers, tmp_path: Path
):
    ns = namespace
    for name, key in KEYS.items():
        cluster.create_secret(ns, f"key-{name}", {"streamKey": key})
        cluster.allow_reference(ns, f"key-{name}")
    with contextlib.ExitStack() as stack:
        nginx = stack.enter_context(NginxRtmp(workdir=tmp_path / "nginx"))
        relays = {n: stack.enter_context(TcpForwarder(nginx.rtmp_port, tmp_path / f"relay-{n}")) for n in KEYS}

        def target(name: str) -> dict:
            return restream(name, uri=relays[name].url(), streamKeySecretRef={"name": f"key-{name}"})

        cluster.apply(ns, livestream("cam", screenshots={"enabled": False}), target("a"), target("b"))
        pod = eventually(
            lambda: (p := cluster.get("pods", ns, "cam-pusher")) and len(p["metadata"]["ownerReferences"]) == 2 and p,
            what="one pusher Pod owned by both Restreams",
        )
        ingest = local_pods.start(ns, "cam-ingest")
        local_pods.start(ns, "cam-pusher")
        key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
        url = f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}"
        publishers.append(Publisher(url, size="320x180", rate=15).start())
        for name in "ab":
            cluster.wait_status("rst", ns, name, lambda o: o["status"].get("live"), f"{name} live", 40)
        eventually(lambda: nginx.publishing() == {KEYS["a"], KEYS["b"]}, timeout=15, what="both keys publishing")

        cluster.apply(ns, target("c"))
        cluster.wait_status("rst", ns, "c", lambda o: o["status"].get("live"), "c live", 40)
        assert relays["b"].connections == 1, "b was not reconnected when c came"
        cluster.delete("rst", ns, "b", wait=True)
        eventually(lambda: nginx.publishing() == {KEYS["a"], KEYS["c"]}, timeout=20, what="b gone, c publishing")
        a = cluster.get("restreams", ns, "a")
        assert a["status"]["live"] and a["status"]["reconnects"] == 0
        assert relays["a"].connections == 1, "a's connection was never touched"
        now = cluster.get("pods", ns, "cam-pusher")
        assert now["metadata"]["uid"] == pod["metadata"]["uid"], "the same Pod throughout"
        eventually(
            lambda: (
                [r["name"] for r in cluster.get("pods", ns, "cam-pusher")["metadata"]["ownerReferences"]] == ["a", "c"]
            ),
            what="its owners: the Restreams it pushes for",
        )

        cluster.delete("rst", ns, "a", "c", wait=True)
        eventually(lambda: cluster.get("pods", ns, "cam-pusher") is None, timeout=60, what="the Pod gone with the last")

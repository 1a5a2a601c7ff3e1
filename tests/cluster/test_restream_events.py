"""A Restream whose target is down, against a real API server: its failures make one aggregated
RestreamBackoff Warning per failure streak, whose count grows (as client-go aggregates repeated
Events), instead of one Event per attempt (≈600 an hour). The operator runs under its own RBAC
rules (rbac.py): the Event's create and patch must both be granted. Workers run as local processes
(devtools.cluster.local_pods); the target is a port nothing listens on."""

from __future__ import annotations

import base64
from datetime import datetime

from devtools.catalog import livestream, restream
from devtools.cluster.local_pods import LocalPods
from devtools.media.peers import Publisher
from devtools.waits import eventually

TARGET_KEY = "down-target-KEY-8Hq2"


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_target_down_for_a_while_yields_one_backoff_event_whose_count_grows(
    cluster, operator, namespace, local_pods: LocalPods, publishers
):
    ns = namespace
    cluster.create_secret(ns, "down-key", {"streamKey": TARGET_KEY})
    cluster.allow_reference(ns, "down-key")
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}))
    cluster.apply(ns, restream("down", uri="rtmp://127.0.0.1:9/live", streamKeySecretRef={"name": "down-key"}))
    eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="ingest Pod")
    eventually(lambda: cluster.get("pods", ns, "cam-pusher"), what="pusher Pod")
    ingest = local_pods.start(ns, "cam-ingest")
    local_pods.start(ns, "cam-pusher")
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
    url = f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}"
    publishers.append(Publisher(url, size="320x180", rate=15).start())
    eventually(lambda: ingest.status()["live"], timeout=20, what="ingest live")

    # The first failure creates the streak's Event.
    [first] = eventually(
        lambda: cluster.events(ns, "Restream", "down", "RestreamBackoff"), timeout=40, what="a RestreamBackoff Event"
    )
    assert first["type"] == "Warning" and first["count"] >= 1
    assert first["involvedObject"]["uid"] == cluster.get("restreams", ns, "down")["metadata"]["uid"]
    assert "Connection refused" in first["message"] and TARGET_KEY not in first["message"]

    # Later failures update it: still one Event, its count and lastTimestamp growing.
    def grown(since: dict, by: int) -> dict | None:
        found = cluster.events(ns, "Restream", "down", "RestreamBackoff")
        assert len(found) == 1, [(e["metadata"]["name"], e["count"]) for e in found]
        return found[0] if found[0]["count"] >= since["count"] + by else None

    later = eventually(lambda: grown(first, 3), timeout=90, what="the Event's count grows by 3")
    assert later["metadata"]["name"] == first["metadata"]["name"]
    assert later["firstTimestamp"] == first["firstTimestamp"]
    assert when(later["lastTimestamp"]) > when(first["lastTimestamp"])
    status = cluster.get("restreams", ns, "down")["status"]
    assert status["reconnects"] >= later["count"] - 1, "each attempt after the first is a reconnect"
    assert not status["live"] and TARGET_KEY not in str(status)

    # An operator restarted mid-streak finds the same Event and goes on counting in it.
    operator.restart()
    after_restart = eventually(lambda: grown(later, 1), timeout=60, what="the count grows after a restart")
    assert after_restart["metadata"]["name"] == first["metadata"]["name"]
    assert TARGET_KEY not in str(cluster.events(ns, "Restream", "down", "RestreamBackoff"))

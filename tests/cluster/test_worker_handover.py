"""A busy shared pusher handed over to a successor (docs/design/handover.md, Part 5) against the real
API server and the real operator: an operator setting the pusher Pod needs changes (the operator
restarted with it) while a Restream pushes; a successor is made in the second slot; once Ready the
predecessor is sent the empty set, then the successor the set, then the predecessor is deleted with
the Event HandedOver.

No kubelet runs here: the test sets the Pods' status, and a `FakePusher` for each Pod answers its
/status and takes its PUT /targets. The tier's workers are hostNetwork Pods bound to 127.0.0.1: the
successor has a host port of its own, so each Pod has its fake."""

from __future__ import annotations

import json
from typing import Any

from devtools.catalog import livestream, recording, restream
from devtools.cluster.fake_worker import FakeWorker, container_port, running, serving
from devtools.waits import eventually


class FakePusher(FakeWorker):
    """/status: the set last PUT, every target live; each PUT's target ids in `puts`."""

    def __init__(self) -> None:
        super().__init__({"targets": []})
        self.puts: list[list[str]] = []

    def took(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        targets = body["targets"]
        self.status = {
            "targets": [{k: t[k] for k in ("id", "name", "version")} | {"live": True, "state": "live"} for t in targets]
        }
        self.puts.append([t["id"] for t in targets])
        return 200, {}


def http_port(pod: dict[str, Any]) -> int:
    return container_port(pod, "http")


def test_a_pushing_pusher_is_handed_over_and_each_target_reconnects_once(cluster, operator, namespace):
    ns = namespace
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}))
    cluster.apply(ns, restream("out", uri="rtmp://127.0.0.1:9/live"))
    first = eventually(lambda: cluster.get("pods", ns, "cam-pusher"), what="the pusher Pod")
    uid = cluster.get("restreams", ns, "out")["metadata"]["uid"]
    with serving(FakePusher(), http_port(first)) as pusher:
        running(cluster, ns, "cam-pusher")
        eventually(lambda: pusher.puts == [[uid]], what="the set sent")
        eventually(lambda: (cluster.get("restreams", ns, "out").get("status") or {}).get("live"), what="live")

        # A setting the pusher Pod needs, while it pushes: a successor, the predecessor untouched.
        with operator.with_env({"STREAMOPS_NODE_LOST_TOLERATION_SECONDS": "307"}):
            successor = running(cluster, ns, "cam-pusher-b")
            annotations = successor["metadata"]["annotations"]
            assert annotations["streaming.streamops.dev/successor-of"] == first["metadata"]["uid"]
            assert annotations["streaming.streamops.dev/handover-for"] == "spec.tolerations"
            assert http_port(successor) != http_port(first), "a host port of its own: beside its predecessor"
            with serving(FakePusher(), http_port(successor)) as taker:
                # The predecessor lets go, then the successor connects; then the predecessor goes.
                eventually(lambda: cluster.get("pods", ns, "cam-pusher") is None, what="the predecessor deleted")
                assert pusher.puts == [[uid], []] and taker.puts == [[uid]], "each target reconnected once"
                [event] = eventually(lambda: cluster.events(ns, "Restream", "out", "HandedOver"), what="HandedOver")
                assert event["message"] == (
                    "pusher handed over from cam-pusher to cam-pusher-b because spec.tolerations changed"
                )
                assert cluster.get("restreams", ns, "out")["status"]["live"], "its status read from the successor"


class FakeRecorder(FakeWorker):
    """/status from `status`; POST /handover/release says releasing, POST /start starts recording;
    every POST's path and JSON body in `posts`."""

    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(status)
        self.posts: list[tuple[str, dict[str, Any]]] = []

    def took(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        self.posts.append((path, body))
        if path == "/handover/release":
            self.status = {**self.status, "handover": self.status.get("handover") or "releasing"}
        elif path == "/start":
            self.status = {"state": "recording", "recording": True, "duration": 601.0}
        return 200, self.status


def test_a_recording_recorder_is_handed_over_to_a_warm_successor(cluster, operator, namespace):
    ns = namespace
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}))
    asking = recording("rec", minDurationSeconds=1)  # a recorder is handed over when its Recording asks
    asking["metadata"].setdefault("annotations", {})["streaming.streamops.dev/restarts"] = "handover"
    cluster.apply(ns, asking)
    first = eventually(lambda: cluster.get("pods", ns, "rec-recorder"), what="the recorder Pod")
    on_air = {"state": "recording", "recording": True, "duration": 600.0}
    with serving(FakeRecorder(on_air), http_port(first)) as old:
        running(cluster, ns, "rec-recorder")
        eventually(lambda: (cluster.get("recordings", ns, "rec").get("status") or {}).get("recording"), what="on air")

        with operator.with_env({"STREAMOPS_NODE_LOST_TOLERATION_SECONDS": "307"}):
            successor = eventually(lambda: cluster.get("pods", ns, "rec-recorder-b"), what="the successor")
            annotations = successor["metadata"]["annotations"]
            assert annotations["streaming.streamops.dev/successor-of"] == first["metadata"]["uid"]
            assert annotations["streaming.streamops.dev/handover-for"] == "spec.tolerations"
            config = json.loads(successor["spec"]["containers"][0]["env"][0]["value"])
            assert config["standby"] is True and config["httpPort"] == http_port(successor) != http_port(first)
            with serving(FakeRecorder({"state": "standby"}), http_port(successor)) as new:
                running(cluster, ns, "rec-recorder-b")
                # Ready: the predecessor releases the video, then the successor gets the Recording.
                eventually(lambda: [p for p, _ in old.posts] == ["/handover/release"], what="POST /handover/release")
                [(path, sent)] = eventually(lambda: new.posts, what="POST /start to the successor")
                assert path == "/start" and sent["directory"] and sent["httpPort"] == http_port(successor)
                assert cluster.get("pods", ns, "rec-recorder")["metadata"]["uid"] == first["metadata"]["uid"], (
                    "kept until its part has ended"
                )
                old.status = {**old.status, "state": "stopped", "recording": False, "handover": "released"}
                eventually(lambda: cluster.get("pods", ns, "rec-recorder") is None, what="the predecessor deleted")
                [event] = eventually(lambda: cluster.events(ns, "Recording", "rec", "HandedOver"), what="HandedOver")
                assert event["message"] == (
                    "recorder handed over from rec-recorder to rec-recorder-b because spec.tolerations changed"
                )
                status = cluster.get("recordings", ns, "rec")["status"]
                assert status["recording"] and status["duration"] == 601.0, "its status read from the successor"

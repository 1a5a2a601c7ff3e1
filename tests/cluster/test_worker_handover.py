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
    """/status from `status`; POST /handover/release says releasing, POST /start starts recording
    (or is refused: `refuse_start`), POST /stop stops: a predecessor whose successor took the
    video says released, one whose successor never did takes it back (handover cleared); every
    POST's path and JSON body in `posts`."""

    def __init__(self, status: dict[str, Any], refuse_start: bool = False, taken: bool = True) -> None:
        super().__init__(status)
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.refuse_start, self.taken = refuse_start, taken

    def took(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        self.posts.append((path, body))
        if path == "/handover/release":
            self.status = {**self.status, "handover": self.status.get("handover") or "releasing"}
        elif path == "/start" and self.refuse_start:
            return 503, {"error": "not now"}
        elif path == "/start":
            self.status = {"state": "recording", "recording": True, "duration": 601.0}
        elif path == "/stop":
            handover = "released" if self.status.get("handover") and self.taken else None
            self.status = {**self.status, "state": "stopped", "recording": False, "handover": handover}
        return 200, self.status


def stop(cluster: Any, ns: str, name: str) -> None:
    cluster.patch("rec", ns, name, {"spec": {"stopped": True}})


def succeeded(cluster: Any, ns: str, name: str) -> bool:
    conditions = (cluster.get("recordings", ns, name).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Succeeded" and c["status"] == "True" for c in conditions)


def test_a_recording_recorder_is_handed_over_to_a_warm_successor_and_a_stop_reaches_the_video(
    cluster, operator, namespace
):
    """`rec`: handed over under the operator's policy, stopped once the successor took the video;
    `cut`: stopped once its predecessor released the video, its successor never started."""
    ns = namespace
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}))
    cluster.apply(ns, recording("rec", minDurationSeconds=1), recording("cut", minDurationSeconds=1))
    first, cut_first = (
        eventually(lambda n=n: cluster.get("pods", ns, n), what=n) for n in ("rec-recorder", "cut-recorder")
    )
    on_air = {"state": "recording", "recording": True, "duration": 600.0}
    with (
        serving(FakeRecorder(on_air), http_port(first)) as old,
        serving(FakeRecorder(on_air, taken=False), http_port(cut_first)) as cut_old,
    ):
        running(cluster, ns, "rec-recorder")
        running(cluster, ns, "cut-recorder")
        for name in ("rec", "cut"):
            eventually(
                lambda n=name: (cluster.get("recordings", ns, n).get("status") or {}).get("recording"), what=name
            )

        with operator.with_env({"STREAMOPS_NODE_LOST_TOLERATION_SECONDS": "307"}):
            successor = eventually(lambda: cluster.get("pods", ns, "rec-recorder-b"), what="the successor")
            cut_next = eventually(lambda: cluster.get("pods", ns, "cut-recorder-b"), what="cut's successor")
            annotations = successor["metadata"]["annotations"]
            assert annotations["streaming.streamops.dev/successor-of"] == first["metadata"]["uid"]
            assert annotations["streaming.streamops.dev/handover-for"] == "spec.tolerations"
            config = json.loads(successor["spec"]["containers"][0]["env"][0]["value"])
            assert config["standby"] is True and config["httpPort"] == http_port(successor) != http_port(first)
            with (
                serving(FakeRecorder({"state": "standby"}), http_port(successor)) as new,
                serving(FakeRecorder({"state": "standby"}, refuse_start=True), http_port(cut_next)) as cut_new,
            ):
                running(cluster, ns, "rec-recorder-b")
                running(cluster, ns, "cut-recorder-b")
                # Ready: the predecessor releases the video, then the successor gets the Recording.
                eventually(lambda: [p for p, _ in old.posts] == ["/handover/release"], what="POST /handover/release")
                [(path, sent)] = eventually(lambda: new.posts, what="POST /start to the successor")
                assert path == "/start" and sent["directory"] and sent["httpPort"] == http_port(successor)
                assert cluster.get("pods", ns, "rec-recorder")["metadata"]["uid"] == first["metadata"]["uid"], (
                    "kept until its part has ended"
                )
                eventually(
                    lambda: cluster.get("recordings", ns, "rec")["status"]["duration"] == 601.0,
                    what="its status read from the successor",
                )
                # Stopped now: the successor holds the video. The predecessor's part is stopped, it
                # goes once released, and the successor is stopped: it finalises the video.
                stop(cluster, ns, "rec")
                eventually(lambda: cluster.get("pods", ns, "rec-recorder") is None, what="the predecessor deleted")
                assert [p for p, _ in old.posts] == ["/handover/release", "/stop"]
                [event] = eventually(lambda: cluster.events(ns, "Recording", "rec", "HandedOver"), what="HandedOver")
                assert event["message"] == (
                    "recorder handed over from rec-recorder to rec-recorder-b because spec.tolerations changed"
                )
                eventually(lambda: [p for p, _ in new.posts] == ["/start", "/stop"], what="the successor stopped")
                eventually(lambda: succeeded(cluster, ns, "rec"), what="rec finished")

                # `cut` was released, and its successor refuses the Recording: stopped now, the
                # handover is cancelled and the predecessor, which takes the video back, is stopped.
                eventually(lambda: [p for p, _ in cut_new.posts][:1] == ["/start"], what="cut: POST /start refused")
                assert cut_old.status["handover"] == "releasing"
                stop(cluster, ns, "cut")
                eventually(lambda: cluster.get("pods", ns, "cut-recorder-b") is None, what="cut's successor deleted")
                eventually(lambda: [p for p, _ in cut_old.posts] == ["/handover/release", "/stop"], what="cut stopped")
                [event] = eventually(lambda: cluster.events(ns, "Recording", "cut", "HandoverCancelled"), what="said")
                assert "cancelled: the recording ends; cut-recorder finalises the video" in event["message"]
                eventually(lambda: succeeded(cluster, ns, "cut"), what="cut finished")

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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devtools.catalog import livestream, recording, restream
from devtools.cluster.local_pods import set_pod_status
from devtools.waits import eventually


class FakePusher:
    """/status: the set last PUT, every target live; each PUT's target ids in `puts`."""

    def __init__(self) -> None:
        self.targets: list[dict[str, Any]] = []
        self.puts: list[list[str]] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                running = [
                    {k: t[k] for k in ("id", "name", "version")} | {"live": True, "state": "live"} for t in fake.targets
                ]
                body = json.dumps({"targets": running}).encode() if self.path == "/status" else b"{}"
                self.send_response(200 if self.path == "/status" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.targets = json.loads(raw)["targets"]
                fake.puts.append([t["id"] for t in fake.targets])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def fake_pusher(port: int) -> Iterator[FakePusher]:
    fake = FakePusher()
    server = ThreadingHTTPServer(("127.0.0.1", port), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def http_port(pod: dict[str, Any]) -> int:
    ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    return int(ports["http"])


def running(cluster: Any, ns: str, name: str) -> dict[str, Any]:
    pod = eventually(lambda: cluster.get("pods", ns, name), what=f"Pod {name}")
    set_pod_status(cluster, ns, name, "Running", True, ip="127.0.0.1")
    return pod


def test_a_pushing_pusher_is_handed_over_and_each_target_reconnects_once(cluster, operator, namespace):
    ns = namespace
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}))
    cluster.apply(ns, restream("out", uri="rtmp://127.0.0.1:9/live"))
    first = eventually(lambda: cluster.get("pods", ns, "cam-pusher"), what="the pusher Pod")
    uid = cluster.get("restreams", ns, "out")["metadata"]["uid"]
    with fake_pusher(http_port(first)) as pusher:
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
            with fake_pusher(http_port(successor)) as taker:
                # The predecessor lets go, then the successor connects; then the predecessor goes.
                eventually(lambda: cluster.get("pods", ns, "cam-pusher") is None, what="the predecessor deleted")
                assert pusher.puts == [[uid], []] and taker.puts == [[uid]], "each target reconnected once"
                [event] = eventually(lambda: cluster.events(ns, "Restream", "out", "HandedOver"), what="HandedOver")
                assert event["message"] == (
                    "pusher handed over from cam-pusher to cam-pusher-b because spec.tolerations changed"
                )
                assert cluster.get("restreams", ns, "out")["status"]["live"], "its status read from the successor"


class FakeRecorder:
    """/status from `status`; POST /handover/release says releasing, POST /start starts recording;
    every POST's path and JSON body in `posts`."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        self.posts: list[tuple[str, dict[str, Any]]] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(fake.status).encode() if self.path == "/status" else b"{}"
                self.send_response(200 if self.path == "/status" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.posts.append((self.path, json.loads(raw) if raw else {}))
                if self.path == "/handover/release":
                    fake.status = {**fake.status, "handover": fake.status.get("handover") or "releasing"}
                elif self.path == "/start":
                    fake.status = {"state": "recording", "recording": True, "duration": 601.0}
                body = json.dumps(fake.status).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def fake_recorder(port: int, status: dict[str, Any]) -> Iterator[FakeRecorder]:
    fake = FakeRecorder(status)
    server = ThreadingHTTPServer(("127.0.0.1", port), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_recording_recorder_is_handed_over_to_a_warm_successor(cluster, operator, namespace):
    ns = namespace
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}))
    cluster.apply(ns, recording("rec", minDurationSeconds=1))
    first = eventually(lambda: cluster.get("pods", ns, "rec-recorder"), what="the recorder Pod")
    on_air = {"state": "recording", "recording": True, "duration": 600.0}
    with fake_recorder(http_port(first), on_air) as old:
        running(cluster, ns, "rec-recorder")
        eventually(lambda: (cluster.get("recordings", ns, "rec").get("status") or {}).get("recording"), what="on air")

        with operator.with_env({"STREAMOPS_NODE_LOST_TOLERATION_SECONDS": "307"}):
            successor = eventually(lambda: cluster.get("pods", ns, "rec-recorder-b"), what="the successor")
            annotations = successor["metadata"]["annotations"]
            assert annotations["streaming.streamops.dev/successor-of"] == first["metadata"]["uid"]
            assert annotations["streaming.streamops.dev/handover-for"] == "spec.tolerations"
            config = json.loads(successor["spec"]["containers"][0]["env"][0]["value"])
            assert config["standby"] is True and config["httpPort"] == http_port(successor) != http_port(first)
            with fake_recorder(http_port(successor), {"state": "standby"}) as new:
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

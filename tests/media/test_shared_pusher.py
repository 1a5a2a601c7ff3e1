"""A stream's shared pusher (`streamops worker pushers`) with real FFmpeg: targets sent over
`PUT /targets` go live side by side, and a target added or removed leaves the others' connections
alone (counted at the targets: a relay in front of nginx-rtmp counts the connections it accepted).
docs/design/shared-pusher.md."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get, http_request
from devtools.media.peers import NginxRtmp, Publisher, SrtListener, TcpForwarder
from devtools.media.workers import WORKER_AUTH, Ingest, Worker
from devtools.ports import free_port
from devtools.processes import command_line, environment, proc_tree
from devtools.waits import wait_for

KEYS = {"a": "rk-SECRET-a-41d7", "b": "rk-SECRET-b-93c2", "c": "srt-SECRET-c-0e5f"}


class SharedPushWorker(Worker):
    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        config = {"stream": "cam", "httpHost": "127.0.0.1", "httpPort": port, "privateDir": str(workdir / "private")}
        super().__init__("pushers", config, workdir, port)

    def put(self, targets: list[dict[str, Any]], auth: dict[str, str] = WORKER_AUTH) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json", **auth}
        status, _, body = http_request(
            "PUT", self.http + "/targets", json.dumps({"targets": targets}).encode(), headers
        )
        return status, json.loads(body) if body.startswith(b"{") else {}

    def target(self, name: str) -> dict[str, Any] | None:
        return next((t for t in self.status()["targets"] if t["name"] == name), None)

    def wait_live(self, name: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for(lambda: (t := self.target(name)) and t["live"] and t, timeout=timeout, what=f"{name} live")


@pytest.fixture
def shared_pusher(tmp_path: Path) -> Iterator[SharedPushWorker]:
    worker = SharedPushWorker(tmp_path / "pushers")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def test_targets_added_and_removed_leave_the_others_connections_alone(
    ingest: Ingest, shared_pusher: SharedPushWorker, tmp_path: Path
) -> None:
    publisher = Publisher(ingest.rtmp_url(), log_path=tmp_path / "publisher.log").start()
    with contextlib.ExitStack() as stack:
        stack.callback(publisher.stop)
        nginx = stack.enter_context(NginxRtmp(workdir=tmp_path / "nginx"))
        relays = {n: stack.enter_context(TcpForwarder(nginx.rtmp_port, tmp_path / f"relay-{n}")) for n in "ab"}
        srt = stack.enter_context(SrtListener(tmp_path / "srt.ts", log_path=tmp_path / "srt.log"))
        ingest.wait_live()

        def target(name: str, uri: str) -> dict[str, Any]:
            return {
                "id": f"uid-{name}",
                "name": name,
                "version": "1",
                "feedUrl": ingest.feed_url,
                "uri": uri,
                "streamKey": KEYS[name],
                "noAudioMode": "drop",
            }

        a, b = target("a", relays["a"].url()), target("b", relays["b"].url())
        c = target("c", srt.url)
        assert shared_pusher.put([a, b], auth={})[0] == 401, "the stream's worker credential is asked for"
        assert shared_pusher.status()["targets"] == []

        status, answer = shared_pusher.put([a, b])
        assert status == 200 and [t["name"] for t in answer["targets"]] == ["a", "b"]
        for name in "ab":
            shared_pusher.wait_live(name)
        wait_for(lambda: nginx.publishing() == {KEYS["a"], KEYS["b"]}, timeout=15, what="both keys publishing")
        assert relays["a"].connections == relays["b"].connections == 1

        # c added, b removed, a sent again as it was (the operator sends the whole set).
        status, answer = shared_pusher.put([a, c])
        assert status == 200 and [t["name"] for t in answer["targets"]] == ["a", "c"]
        shared_pusher.wait_live("c")
        wait_for(lambda: srt.received_bytes() > 100_000, timeout=15, what="the SRT target receiving")
        wait_for(lambda: nginx.publishing() == {KEYS["a"]}, timeout=15, what="b's publish ended")
        before = shared_pusher.target("a")
        assert before is not None
        wait_for(lambda: (t := shared_pusher.target("a")) and t["bytesSent"] > before["bytesSent"], timeout=10)
        after = shared_pusher.target("a")
        assert after is not None and after["live"] and after["reconnects"] == 0 and after["failures"] == 0
        assert relays["a"].connections == 1, "a's connection was never touched"
        assert relays["b"].connections == 1, "b was not reconnected before it was removed"

        metrics = http_get(shared_pusher.http + "/metrics")[1].decode()
        assert 'streamops_pusher_state{state="live",stream="cam",target="a"} 1.0' in metrics
        assert 'streamops_pusher_state{state="live",stream="cam",target="c"} 1.0' in metrics
        assert 'target="b"' not in metrics, "a removed target's series leave the scrape"

        assert shared_pusher.process is not None
        pids = proc_tree(shared_pusher.process.pid)
        assert len(pids) == 3, "the worker and one FFmpeg per target"
        exposed = "".join(command_line(pid) + environment(pid) for pid in pids)
        exposed += shared_pusher.logs() + json.dumps(shared_pusher.status()) + metrics
        for key in KEYS.values():
            assert key not in exposed, "no key in a command line, an environment, the logs, /status or /metrics"

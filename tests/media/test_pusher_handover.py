"""A stream's shared pusher handed over to a successor pusher (docs/design/handover.md, Part 5), with
real FFmpeg on 127.0.0.1 and nginx-rtmp as the target: the operator's order (the predecessor is sent
the empty set, `PUT /targets`; once its targets are gone, the successor is sent the set) reconnects
each target once. A target takes one publisher per key: nginx-rtmp refuses a second one while the
first publishes ("already publishing"), so the successor cannot connect first."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from devtools.media.peers import NginxRtmp, Publisher, TcpForwarder
from devtools.media.workers import Ingest
from devtools.waits import wait_for

from tests.media.test_shared_pusher import SharedPushWorker

KEY = "rk-SECRET-h-5a1e"


def test_a_handed_over_pusher_reconnects_each_target_once(ingest: Ingest, tmp_path: Path) -> None:
    publisher = Publisher(ingest.rtmp_url(), log_path=tmp_path / "publisher.log").start()
    with contextlib.ExitStack() as stack:
        stack.callback(publisher.stop)
        nginx = stack.enter_context(NginxRtmp(workdir=tmp_path / "nginx"))
        relay = stack.enter_context(TcpForwarder(nginx.rtmp_port, tmp_path / "relay"))
        predecessor, successor = SharedPushWorker(tmp_path / "old"), SharedPushWorker(tmp_path / "new")
        for worker in (predecessor, successor):
            worker.start()
            stack.callback(worker.stop)
        ingest.wait_live()
        target: dict[str, Any] = {
            "id": "uid-a",
            "name": "a",
            "version": "1",
            "feedUrl": ingest.feed_url,
            "uri": relay.url(),
            "streamKey": KEY,
            "noAudioMode": "drop",
        }
        assert predecessor.put([target])[0] == 200
        predecessor.wait_live("a")
        wait_for(lambda: nginx.publishing() == {KEY}, timeout=15, what="the key publishing")

        # The handover: the predecessor lets go, then the successor takes the set.
        assert predecessor.put([])[0] == 200
        wait_for(lambda: predecessor.status()["targets"] == [] and not nginx.publishing(), 15, what="let go")
        let_go = time.monotonic()
        assert successor.put([target])[0] == 200
        successor.wait_live("a")
        wait_for(lambda: nginx.publishing() == {KEY}, timeout=15, what="the key publishing again")
        print(f"target off air for {time.monotonic() - let_go:.2f} s")
        after = successor.target("a")
        assert after is not None and after["reconnects"] == 0 and after["failures"] == 0, after
        assert relay.connections == 2, "one reconnect at the target"

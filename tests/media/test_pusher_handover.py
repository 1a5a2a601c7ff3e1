"""A stream's shared pusher handed over to a successor pusher (docs/design/handover.md, Part 5), with
real FFmpeg on 127.0.0.1 and nginx-rtmp as the target: the operator's order (the predecessor is sent
the empty set, `PUT /targets`; once its targets are gone, the successor is sent the set) reconnects
each target once. A target takes one publisher per key: nginx-rtmp refuses a second one while the
first publishes ("already publishing"), so the successor cannot connect first.

The test sends the successor its set as soon as the predecessor answered its release, as the
operator does (the answer wakes its loop, which reads the predecessor afresh: no target), and
prints where the time off air went: the release's answer, the predecessor's publish gone at nginx,
the successor's connection, its publish, its first media (nginx's bytes in)."""

from __future__ import annotations

import contextlib
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from devtools.media.peers import NginxRtmp, Publisher, TcpForwarder
from devtools.media.workers import Ingest
from devtools.waits import wait_for

from tests.media.test_shared_pusher import SharedPushWorker

KEY = "rk-SECRET-h-5a1e"
SAMPLE_SECONDS = 0.02  # the timeline's resolution (nginx's /stat read this often)


class TimedForwarder(TcpForwarder):
    """The counting relay, with when each connection was accepted and when its client closed it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accepted: list[float] = []
        self.closed: list[float] = []

    async def _relay(self, client_r: Any, client_w: Any) -> None:
        self.accepted.append(time.monotonic())
        try:
            await super()._relay(client_r, client_w)
        finally:
            self.closed.append(time.monotonic())


class Timeline(threading.Thread):
    """nginx's view of the key, sampled: when it was published, and when its bytes in grew."""

    def __init__(self, nginx: NginxRtmp) -> None:
        super().__init__(name="timeline", daemon=True)
        self.nginx = nginx
        self.samples: list[tuple[float, str | None, int]] = []  # (monotonic, the publisher's client id, bytes in)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_SECONDS):
            with contextlib.suppress(OSError, ET.ParseError):
                self.samples.append((time.monotonic(), *self._publisher()))

    def _publisher(self) -> tuple[str | None, int]:
        for stream in self.nginx.stat().iter("stream"):
            if stream.findtext("name") != KEY:
                continue
            for client in stream.iter("client"):
                if client.find("publishing") is not None:
                    return client.findtext("id"), int(stream.findtext("bytes_in") or 0)
        return None, 0

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def publisher(self) -> str | None:
        """The publishing client's id in the last sample."""
        return self.samples[-1][1] if self.samples else None

    def gone(self, client: str, after: float) -> float | None:
        """When the client no longer published the key."""
        return next((t for t, c, _ in self.samples if t >= after and c != client), None)

    def next_publish(self, client: str, after: float) -> tuple[float, str, float] | None:
        """The next publisher after the client: when it published, its id, when its bytes in first
        carried media (past its publish's commands, a few hundred bytes: a keyframe and the
        sequence headers are tens of kB); None until both showed."""
        samples = [(t, c, n) for t, c, n in self.samples if t >= after and c not in (None, client)]
        if not samples:
            return None
        at, new, first = samples[0]
        media = next((t for t, c, n in samples if c == new and n > first + 8192), None)
        return (at, new, media) if media is not None else None


def test_a_handed_over_pusher_reconnects_each_target_once(ingest: Ingest, tmp_path: Path) -> None:
    publisher = Publisher(ingest.rtmp_url(), log_path=tmp_path / "publisher.log").start()
    with contextlib.ExitStack() as stack:
        stack.callback(publisher.stop)
        nginx = stack.enter_context(NginxRtmp(workdir=tmp_path / "nginx"))
        relay = stack.enter_context(TimedForwarder(nginx.rtmp_port, tmp_path / "relay"))
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
        timeline = Timeline(nginx)
        timeline.start()
        stack.callback(timeline.stop)
        old = wait_for(timeline.publisher, 5, what="a sample of the publish")

        # The handover: the predecessor lets go, then the successor takes the set at its answer.
        released = time.monotonic()
        status, answer = predecessor.put([])
        answered = time.monotonic()
        assert status == 200 and answer["targets"] == []
        assert successor.put([target])[0] == 200
        sent = time.monotonic()
        successor.wait_live("a")
        back, _, media = wait_for(lambda: timeline.next_publish(old, released), 15, 0.05, what="the key's media again")
        gone = timeline.gone(old, released)
        assert gone is not None
        closed = relay.closed[0] - released if relay.closed else float("nan")
        print(
            f"forwarder closed {closed:.2f} s, accepted {relay.accepted[-1] - released:.2f} s; "
            f"release answered {answered - released:.2f} s; publish gone at nginx {gone - released:.2f} s; "
            f"successor sent {sent - released:.2f} s; published {back - released:.2f} s; "
            f"media {media - released:.2f} s (off air {media - gone:.2f} s)"
        )
        after = successor.target("a")
        # Sent the set on the release's answer, the successor was not refused "already publishing".
        assert after is not None and after["reconnects"] == 0 and after["failures"] == 0, after
        assert relay.connections == 2, "one reconnect at the target"

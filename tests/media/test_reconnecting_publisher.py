"""The demo's encoder reconnects as OBS does (devtools.media.reconnecting_publisher): real FFmpeg
pushing to a real nginx-rtmp on 127.0.0.1 that is not there yet, goes away, or never comes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.media import peers
from devtools.media.peers import NginxRtmp, Publisher
from devtools.media.reconnecting_publisher import Backoff, NeverLive, ReconnectingPublisher
from devtools.ports import free_port, tcp_accepts
from devtools.processes import alive
from devtools.waits import wait_for

pytestmark = [
    pytest.mark.skipif(
        shutil.which("ffmpeg") is None or shutil.which("nginx") is None or not peers.RTMP_MODULE.exists(),
        reason=f"needs ffmpeg, nginx and {peers.RTMP_MODULE} (make deps)",
    ),
    pytest.mark.timeout(90),
]

KEY = "secret-key-1234"
QUICK = Backoff(first=0.2, factor=2.0, ceiling=1.0, held_seconds=3.0)


@pytest.fixture
def late_server(tmp_path: Path) -> Iterator[NginxRtmp]:
    """An nginx-rtmp on fixed free ports, not started (the test starts it when it wants)."""
    server = NginxRtmp(workdir=tmp_path / "nginx", rtmp_port=free_port(), http_port=free_port())
    yield server
    server.stop()


def encoder(server: NginxRtmp, log: Path) -> ReconnectingPublisher:
    return ReconnectingPublisher(
        lambda: Publisher(server.rtmp_url(name=KEY), size="320x180", video_bitrate="300k", log_path=log),
        backoff=QUICK,
    )


def publishing(server: NginxRtmp) -> bool:
    try:
        return server.running and KEY in server.publishing()
    except OSError:  # between a restart's stop and its start
        return False


def test_reaches_a_server_that_starts_late(late_server: NginxRtmp, tmp_path: Path) -> None:
    """Refused at first (nothing listens: what a NodePort not yet programmed answers), then live
    within a backoff step of the server appearing."""
    assert not tcp_accepts(late_server.rtmp_port)
    with encoder(late_server, tmp_path / "publisher.log") as publisher:
        wait_for(lambda: publisher.attempts >= 3, timeout=20, what="it kept trying while nothing listened")
        assert "Connection refused" in publisher.last_failure
        late_server.start()
        took = publisher.wait_live(lambda: publishing(late_server), timeout=20, what="the test stream")
        assert took < 8, f"live {took:.1f} s after the server was started"
        assert publisher.current is not None and publisher.current.running
        first = publisher.pid
        time.sleep(2)  # (a window in which it must NOT reconnect)
        assert publisher.pid == first, "a connection that holds is not restarted"


def test_reconnects_after_a_drop_and_stops_clean(late_server: NginxRtmp, tmp_path: Path) -> None:
    late_server.start()
    with encoder(late_server, tmp_path / "publisher.log") as publisher:
        publisher.wait_live(lambda: publishing(late_server), timeout=20)
        before = publisher.attempts
        late_server.restart()  # the server drops every publisher and comes back on the same port
        publisher.wait_live(lambda: publishing(late_server) and publisher.attempts > before, timeout=20)
        pid = publisher.pid
        assert pid is not None
    assert not alive(pid), "stop() ends the encoder"
    attempts = publisher.attempts
    time.sleep(1.5)  # (a window in which it must NOT reconnect)
    assert publisher.attempts == attempts, "and nothing reconnects after stop()"


def test_never_live_is_bounded_and_says_why(late_server: NginxRtmp, tmp_path: Path) -> None:
    began = time.monotonic()
    with encoder(late_server, tmp_path / "publisher.log") as publisher, pytest.raises(NeverLive) as caught:
        publisher.wait_live(lambda: publishing(late_server), timeout=4, what="LiveStream obs-studio")
    assert time.monotonic() - began < 10
    message = str(caught.value)
    assert "LiveStream obs-studio did not go live within 4 s" in message
    assert f"rtmp://127.0.0.1:{late_server.rtmp_port}/live/<key>" in message
    assert "Connection refused" in message
    assert KEY not in message, "the stream key (the URL's last part) is never shown"


def test_backoff_grows_to_its_ceiling() -> None:
    backoff = Backoff(first=0.5, factor=2.0, ceiling=4.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]

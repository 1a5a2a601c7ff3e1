"""The WHIP publisher of the harness (devtools.media.whip_publisher: FFmpeg → cmd/whip-push) against
streamops-webrtc alone, through its control API's `POST /whip` (the component does no auth: the
token is ignored there). Everything on 127.0.0.1; every process stopped by PID."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.media.webrtc import WebRtcComponent
from devtools.media.whip_publisher import EXIT_REFUSED, WhipPublisher
from devtools.processes import command_line, proc_tree
from devtools.waits import wait_for

TOKEN = "whip-test-token-3f9c1a"


@pytest.fixture
def component(tmp_path: Path) -> Iterator[WebRtcComponent]:
    (tmp_path / "webrtc").mkdir()
    with WebRtcComponent(tmp_path / "webrtc", rtp_in=False) as webrtc:
        yield webrtc


@pytest.mark.parametrize("ice_tcp_only", [False, True], ids=["udp", "ice-tcp"])
def test_publishes_then_deletes(component: WebRtcComponent, tmp_path: Path, ice_tcp_only: bool) -> None:
    publisher = WhipPublisher(
        f"{component.control_url}/whip", tmp_path / "whip", token=TOKEN, size="640x360", ice_tcp_only=ice_tcp_only
    )
    with publisher:
        status = publisher.wait_connected(timeout=15)
        assert status["status"] == 201
        assert status["location"].startswith(f"{component.control_url}/whip/")

        def flowing() -> dict[str, Any] | None:
            s = component.status()
            return s if s["publisherConnected"] and s["packetsIn"] > 0 else None

        first = wait_for(flowing, timeout=10, what="the publisher's packets at the component")
        assert first["source"] == "whip"
        assert first["publisherSession"] == status["location"].rsplit("/", 1)[1]
        grown = wait_for(
            lambda: (s := component.status())["packetsIn"] > first["packetsIn"] + 50 and s,
            timeout=10,
            what="packetsIn growing",
        )
        assert grown["keyframes"] >= 1, grown
        # whip-push writes its counters to its status file every 250 ms: read until they show.
        wait_for(lambda: publisher.status().get("packetsSent", 0) > 0, timeout=5, what="whip-push's packetsSent")
        if ice_tcp_only:
            assert tcp_established_to(component.ice_tcp_port), "ICE-TCP: a connection to the component's TCP port"

        # The key is never on a command line, and its file is the owner's only.
        pids = proc_tree(publisher.pid or 0) + proc_tree(publisher.source.pid or 0)
        assert len(pids) >= 2
        assert not [pid for pid in pids if TOKEN in command_line(pid)]
        assert stat.S_IMODE(os.stat(publisher.token_path).st_mode) == 0o600

        assert publisher.stop() == 0  # SIGTERM: DELETE
    assert publisher.status()["deleteStatus"] == 200
    after = component.status()
    assert not after["publisherConnected"] and "publisherSession" not in after and after["source"] == "none"
    assert not publisher.token_path.exists()
    assert TOKEN not in publisher.log_since_start()


def test_vanish_sends_no_delete(component: WebRtcComponent, tmp_path: Path) -> None:
    publisher = WhipPublisher(f"{component.control_url}/whip", tmp_path / "whip", token=TOKEN, size="640x360")
    with publisher:
        session = publisher.wait_connected(timeout=15)["location"].rsplit("/", 1)[1]
        wait_for(lambda: component.status()["packetsIn"] > 0, timeout=10, what="packets at the component")
        pids = [publisher.pid, publisher.source.pid]
        publisher.vanish()
        assert not publisher.running and not publisher.source.running
        assert publisher.returncode == -9
        assert not [pid for pid in pids if pid and os.path.exists(f"/proc/{pid}")]
        # No DELETE: the session stays until ICE fails (≈15 s, not waited for here).
        assert component.status().get("publisherSession") == session
        assert "deleteStatus" not in publisher.status()


def test_second_publisher_is_refused(component: WebRtcComponent, tmp_path: Path) -> None:
    url = f"{component.control_url}/whip"
    with WhipPublisher(url, tmp_path / "whip", token=TOKEN, size="640x360") as first:
        first.wait_connected(timeout=15)
        second = WhipPublisher(url, tmp_path / "whip", token=TOKEN, name="second").start()
        try:
            assert second.wait(timeout=10) == EXIT_REFUSED
            assert second.status()["status"] == 409
            assert second.status()["body"] == "a WHIP publisher is already connected to this stream"
            assert not second.source.running  # no FFmpeg for a refused publisher
            assert "whip-push: 409 a WHIP publisher is already connected" in second.log_since_start()
        finally:
            second.stop()
        assert component.status()["publisherConnected"]


def tcp_established_to(port: int) -> bool:
    """An established TCP connection to 127.0.0.1:port in this network namespace (/proc/net/tcp)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as rows:
        return any((f := line.split())[2] == wanted and f[3] == "01" for line in list(rows)[1:])

"""What the ingest worker runs for WebRTC (media/ingest/webrtc/runner.py), without the component: where
its control socket goes, advertised addresses resolved in order without repeats, and a stream without
IngestConfig.webrtc running nothing and refusing its endpoints. With the component:
tests/media/test_whip.py, test_whep_offer_limits.py."""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path
from types import SimpleNamespace

from prometheus_client import CollectorRegistry
from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.webrtc.runner import SOCKET_PATH_MAX, WebRtcRunner, control_socket_path, resolve_ipv4
from streamops.redaction import Redactor

log = logging.getLogger("test.webrtc.runner")


def test_the_control_socket_is_in_the_private_directory_or_a_private_one_of_its_own(tmp_path: Path):
    """Issue 52, finding 8: never a loopback port; a path too long for a socket (a deep test directory)
    gets a 0700 directory of its own instead of failing."""
    assert control_socket_path(Path("/var/lib/streamops/.private")) == Path("/var/lib/streamops/.private/webrtc.sock")
    deep = tmp_path / ("d" * 100) / ".private"
    socket = control_socket_path(deep)
    try:
        assert socket.parent != deep and len(str(socket)) <= SOCKET_PATH_MAX
        assert stat.S_IMODE(socket.parent.stat().st_mode) == 0o700
    finally:
        socket.parent.rmdir()


def test_advertised_hosts_resolve_to_their_ipv4_addresses_in_order_without_repeats():
    hosts = ["192.0.2.7", "localhost", "127.0.0.1", "192.0.2.7"]
    assert asyncio.run(resolve_ipv4(hosts)) == ["192.0.2.7", "127.0.0.1"]


def test_without_webrtc_it_runs_nothing_and_its_endpoints_refuse(tmp_path: Path):
    config = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}})
    host = SimpleNamespace(config=config, loopback_host="127.0.0.1", internal_port=1)
    runner = WebRtcRunner(host, tmp_path, CollectorRegistry(), {"stream": "cam"}, Redactor(), log)  # type: ignore[arg-type]
    assert not runner.enabled and runner.status() is None and runner.whep_viewers == 0
    assert runner.control_socket == tmp_path / "webrtc.sock" and not runner.control_socket.exists()

    async def scenario() -> tuple[int, int]:
        stopping = asyncio.Event()
        stopping.set()
        await asyncio.wait_for(runner.run(stopping), 5)  # returns at once: nothing to run
        offered = await runner.post_whep(b"v=0", "application/sdp")
        deleted = await runner.delete_whep("/whep/ab")
        await runner.stop()
        return offered.status, deleted.status

    assert asyncio.run(scenario()) == (403, 404)

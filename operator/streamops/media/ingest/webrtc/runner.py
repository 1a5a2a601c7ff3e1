"""What the ingest worker runs for WebRTC (IngestConfig.webrtc): the component (component.py) with
its loopback ports and its advertised addresses resolved at each start, WHIP publishers (whip.py),
the WHEP feeder (whep_feed.py), WHEP offers passed through, the clients' STUN/TURN servers
(ice_servers.py), and the component's /status read every STATUS_SECONDS into IngestStatus.webrtc (and
streamops_viewers{protocol="webrtc"}). Without IngestConfig.webrtc it runs nothing and its endpoints refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from streamops.contract.ingest import FEED_PATH, WebRtcStatus
from streamops.media.ingest.webrtc.commands import ComponentPorts, component_command, serves_whep, takes_whip
from streamops.media.ingest.webrtc.component import (
    UNAVAILABLE,
    Component,
    ComponentClient,
    ControlReply,
    WhepViewer,
)
from streamops.media.ingest.webrtc.ice_servers import IceServersFile
from streamops.media.ingest.webrtc.whep_feed import WhepFeeder, WhepFeedHost
from streamops.media.ingest.webrtc.whip import WhipHost, WhipIngest
from streamops.media.loopback_ports import free_rtp_port
from streamops.media.worker_metrics import counter
from streamops.redaction import Redactor

STATUS_SECONDS = 2.0
POD_IP_ENV = "STREAMOPS_POD_IP"
WHIP_SDP_FILE = "whip.sdp"
CONTROL_SOCKET = "webrtc.sock"
# A unix socket's path holds at most 107 bytes (sun_path); a Pod's is ≈40 (/var/lib/streamops/.private/).
SOCKET_PATH_MAX = 100


class WebRtcHost(WhipHost, WhepFeedHost, Protocol):
    """What WebRTC uses of the worker (worker.IngestWorker)."""

    @property
    def loopback_host(self) -> str: ...

    @property
    def internal_port(self) -> int:
        """The port of the worker's internal face (the feed the WHEP feeder reads)."""
        ...


async def resolve_ipv4(hosts: list[str]) -> list[str]:
    """Each host's IPv4 addresses (a literal stays as it is), in order, without repeats. Raises
    OSError when one does not resolve: candidates naming a wrong address help nobody."""
    loop = asyncio.get_running_loop()
    found: dict[str, None] = {}
    for host in hosts:
        for *_, address in await loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM):
            found[str(address[0])] = None
    return list(found)


def control_socket_path(private_dir: Path) -> Path:
    """The component's control socket: in the worker's private directory (0700), or, where that path
    is too long for a socket (a test's deep temporary directory), in a new 0700 directory of the
    system's temporary one."""
    path = private_dir / CONTROL_SOCKET
    if len(os.fsencode(path)) <= SOCKET_PATH_MAX:
        return path
    return Path(tempfile.mkdtemp(prefix="streamops-webrtc-")) / CONTROL_SOCKET


class WebRtcRunner:
    def __init__(
        self,
        host: WebRtcHost,
        private_dir: Path,
        registry: CollectorRegistry,
        labels: dict[str, str],
        redact: Redactor,
        log: logging.Logger,
    ) -> None:
        """`private_dir`: never served (the SDP file goes there); `labels`: the worker's metric labels."""
        self.host, self.config, self.log = host, host.config, log
        self.enabled = self.config.webrtc is not None
        self.sdp_path = private_dir / WHIP_SDP_FILE
        self.private_dir = private_dir
        self.control_socket = control_socket_path(private_dir) if self.enabled else private_dir / CONTROL_SOCKET
        self.ports = self._pick_ports()
        self.client = ComponentClient(self.control_socket)
        self.component = Component(self._command, self._repick, self.client, redact, log)
        self.whip = WhipIngest(host, self.component, self.sdp_path, self._refused, log)
        policy = self.config.webrtc.b_frames if self.config.webrtc else "transcode"
        self.feeder = WhepFeeder(host, self.component, self._rtp_in, policy, redact, log)
        # The STUN/TURN servers for the clients (the pages, the Link headers); the component needs none.
        self.ice_servers = IceServersFile(self.config.webrtc.ice_servers_file if self.config.webrtc else None, log)
        self._status: dict[str, Any] | None = None
        # What status.webrtc says of refused offers (the operator turns them into Events).
        self.refusals = 0
        self.last_refusal: str | None = None
        self._component_task: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._labels = labels
        # (WHEP viewers are streamops_viewers{protocol="webrtc"}: the playback gate's.)
        self.m_refused = counter("streamops_ingest_whip_refused_total", "ingest", registry)

    # --- the component's command line -------------------------------------------------------------------
    def _pick_ports(self) -> ComponentPorts:
        if not self.enabled:
            return ComponentPorts(control=self.control_socket, whip_out=None, rtp_in=None)
        taken: set[int] = set()
        whip = (free_rtp_port(taken), free_rtp_port(taken)) if takes_whip(self.config) else None
        rtp_in = (free_rtp_port(taken), free_rtp_port(taken)) if serves_whep(self.config) else None
        return ComponentPorts(control=self.control_socket, whip_out=whip, rtp_in=rtp_in)

    def _repick(self) -> None:
        self.ports = self._pick_ports()

    def _rtp_in(self) -> tuple[int, int]:
        assert self.ports.rtp_in is not None
        return self.ports.rtp_in

    async def _command(self) -> list[str]:
        assert self.config.webrtc is not None
        advertised = await resolve_ipv4(self.config.webrtc.advertise_hosts)
        return component_command(self.config, self.ports, self.sdp_path, advertised, os.environ.get(POD_IP_ENV))

    # --- what the worker asks -------------------------------------------------------------------------
    def _refused(self, reason: str, answer: str) -> None:
        """`answer`: the refusal's status and text, as the publisher got it (never the key)."""
        self.m_refused.labels(**self._labels, reason=reason).inc()
        self.refusals += 1
        self.last_refusal = answer[:300]

    def on_air_changed(self) -> None:
        self.feeder.on_air_changed()

    def status(self) -> WebRtcStatus | None:
        if not self.enabled:
            return None
        seen = self._status or {}
        running = self.component.running
        return WebRtcStatus(
            running=running,
            whip_publisher=running and bool(seen.get("publisherConnected")),
            whep_viewers=int(seen.get("viewers") or 0) if running else 0,
            whep_live=running and bool(seen.get("live")),
            whep_transcoded=self.feeder.transcoded,
            whep_problem=self.feeder.problem,
            error=self.component.error,
            whip_refused=self.refusals,
            last_whip_refusal=self.last_refusal,
            ice_servers_problem=self.ice_servers.problem,
        )

    @property
    def whep_viewers(self) -> int:
        """Connected WHEP viewers, as the component said at its last status poll."""
        return int((self._status or {}).get("viewers") or 0) if self.component.running else 0

    async def post_whep(self, offer: bytes, content_type: str, viewer: WhepViewer | None = None) -> ControlReply:
        """`viewer`: ComponentClient.post_whep's."""
        if not serves_whep(self.config):
            return ControlReply.text(403, "this stream does not serve WHEP (playback.webrtc.enabled is false)")
        if self.feeder.problem is not None:
            return ControlReply.text(409, self.feeder.problem)
        if not self.component.running:
            return UNAVAILABLE
        return await self.client.post_whep(offer, content_type, viewer)

    async def delete_whep(self, resource: str) -> ControlReply:
        if not self.component.running:
            return ControlReply.text(404, "no such WHEP session")
        return await self.client.delete(resource)

    # --- the run ------------------------------------------------------------------------------------------
    async def _poll_status(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self._status = await self.client.status() if self.component.running else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), STATUS_SECONDS)

    async def run(self, stopping: asyncio.Event) -> None:
        """The component, the status poll and the feeder, until `stopping`; then `stop()`. The
        worker's HTTP face serves already (the feeder reads it)."""
        if not self.enabled:
            return
        feed_url = f"http://{self.host.loopback_host}:{self.host.internal_port}{FEED_PATH}"
        self._component_task = asyncio.create_task(self.component.run(stopping))
        self._loops = [asyncio.create_task(self._poll_status(stopping))]
        if serves_whep(self.config):
            self._loops.append(asyncio.create_task(self.feeder.run(stopping, feed_url)))
        await stopping.wait()

    async def stop(self) -> None:
        """After `stopping` was set: WHIP's session and the feeder's FFmpeg end, then the
        component (it stops itself on `stopping`), each by its PID: none outlives the worker."""
        await self.whip.stop()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._component_task is not None:
            await asyncio.gather(self._component_task, return_exceptions=True)
        if self.control_socket.parent != self.private_dir:  # control_socket_path's own directory
            shutil.rmtree(self.control_socket.parent, ignore_errors=True)

"""The ingest worker's two HTTP faces, two listeners (docs/design/surfaces.md): the public one
(playback, WHIP, WHEP, the player) and the internal one (feeds, status, metrics, viewers, the
overlay switch, the player's settings, the backup uplink). Each route group gets the parts it
serves (routes.py), wired here once.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry

from streamops.contract.ingest import IngestConfig, IngestStatus
from streamops.contract.worker_credential import CredentialCheck
from streamops.media.ingest.encryption import KeyRing
from streamops.media.ingest.handover import Handover, add_handover_routes
from streamops.media.ingest.held_requests import answered_on_the_face
from streamops.media.ingest.key_bearing import https_only
from streamops.media.ingest.load_caps import LoadCaps
from streamops.media.ingest.on_air import OnAir
from streamops.media.ingest.outputs import Outputs
from streamops.media.ingest.overlay_switch import SwitchedOverlays, add_switch_route
from streamops.media.ingest.playback_access import PlaybackGate
from streamops.media.ingest.player_settings import PageSettings, add_player_settings_route
from streamops.media.ingest.public_thread import handlers_on
from streamops.media.ingest.routes import (
    add_feed_routes,
    add_playback_routes,
    add_relay_routes,
    add_viewers_route,
    media_prefixes,
)
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.webrtc.routes import add_webrtc_routes
from streamops.media.ingest.webrtc.runner import WebRtcRunner
from streamops.media.ingest.worker_http import credential_required, public_app, worker_app


class Served(Protocol):
    """The worker's parts the faces serve (worker.IngestWorker)."""

    @property
    def config(self) -> IngestConfig: ...

    @property
    def playback(self) -> PlaybackGate: ...

    @property
    def caps(self) -> LoadCaps: ...

    @property
    def webrtc(self) -> WebRtcRunner: ...

    @property
    def served(self) -> ServedMedia: ...

    @property
    def outputs(self) -> Outputs:
        """The screenshot's file."""
        ...

    @property
    def page_settings(self) -> PageSettings: ...

    @property
    def credential(self) -> CredentialCheck: ...

    @property
    def registry(self) -> CollectorRegistry: ...

    @property
    def on_air(self) -> OnAir: ...

    @property
    def overlays(self) -> SwitchedOverlays: ...

    @property
    def loopback_host(self) -> str: ...

    @property
    def handover(self) -> Handover: ...

    @property
    def key_ring(self) -> KeyRing | None:
        """An encrypted stream's content keys (the public face serves with them, a handover hands them on)."""
        ...

    @property
    def accepting(self) -> bool:
        """Readiness (/readyz)."""
        ...

    def status(self) -> IngestStatus: ...

    def read_key(self) -> bytes | None: ...


def faces(parts: Served, handlers: asyncio.AbstractEventLoop | None = None) -> tuple[web.Application, web.Application]:
    """The public face and the internal one. `handlers`: the loop the public face's route handlers
    run on when it is served on a loop of its own (public_thread.py); None: where it is served."""
    config, gate, caps, webrtc = parts.config, parts.playback, parts.caps, parts.webrtc

    def ready() -> bool:
        return parts.accepting

    # Every public route goes through the playback gate (signed or public), with CORS for players
    # on other origins; beside them only the probes (a load balancer's health check).
    https = https_only(bool(config.publish_over_http), gate.trusted)
    on_face = answered_on_the_face(config.dash_low_latency)
    on_worker = [handlers_on(handlers, on_face)] if handlers is not None else []
    public = public_app(ready, caps.public_middleware, [https, *on_worker])
    add_webrtc_routes(public, media_prefixes(config), webrtc, gate.guard, gate.client)
    screenshot = parts.outputs.screenshot
    continuity = parts.outputs.continuity
    add_playback_routes(
        public,
        config,
        gate,
        parts.served,
        screenshot,
        webrtc.ice_servers,
        parts.page_settings,
        continuity,
        parts.key_ring,
    )
    # What the operator and the stream's own workers read and send: nothing here is playback, so
    # no CORS (a web page never reads it) and no playback gate (none of it is reachable from
    # outside the cluster's pod network: an internal ClusterIP Service carries it). Every route
    # but the probes and /metrics asks for the stream's worker credential, the loopback relay
    # feed too (loopback is the whole node's with worker.hostNetwork).
    guard = credential_required(parts.credential)
    internal = worker_app(parts.status, ready, parts.registry, guard)
    add_feed_routes(internal, parts.served, caps)
    if parts.on_air.relays:
        add_relay_routes(internal, parts.on_air, parts.loopback_host)
    add_viewers_route(internal, gate)
    add_switch_route(internal, config, parts.read_key, parts.overlays)
    add_player_settings_route(internal, parts.page_settings)
    add_handover_routes(internal, parts.handover)
    return public, internal

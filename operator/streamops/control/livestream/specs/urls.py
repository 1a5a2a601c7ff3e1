"""The URLs a LiveStream's status shows: push endpoints and playback, from where its ingests are reached."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from streamops.api import LiveStream
from streamops.api.livestream import (
    IngestEndpoints,
    Playback,
    Projection,
    RegionalIngest,
)
from streamops.contract.ingest import (
    DASH_MANIFEST,
    HLS_CMAF_PLAYLIST,
    HLS_MPEGTS_PLAYLIST,
    PLAYER_PAGE,
    SCREENSHOT_PATH,
    WHEP_PATH,
    WHIP_PATH,
    Role,
)
from streamops.control.livestream.exposure import PlaybackBase, Reach, ReachInputs, RegionReach
from streamops.control.livestream.specs.features import ingest_roles, reader_ports, whip_on
from streamops.control.livestream.specs.route import PlaybackRoute, path_prefix
from streamops.control.livestream.specs.secret import stream_key_ref
from streamops.control.livestream.specs.service import ingest_service_options
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.ingest_address import (
    POD_NETWORK_PORTS,
    IngestPortMap,
    in_cluster_host,
)


def ingest_endpoints(
    stream: LiveStream,
    reaches: dict[Role, Reach],
    playback: PlaybackBase | None = None,
    publish_over_http: bool = False,
    regions: Sequence[RegionReach] = (),
) -> IngestEndpoints | None:
    """OBS-style: server URL (the key goes in the encoder's key field) and the key's Secret name;
    `reaches`: where each role's ingest is reached from (exposure.py), the primary's said; `playback`:
    where the primary's HTTP face is reached (WHIP's signalling goes there, like WHEP's); `regions`:
    the primary's regional ingest points (exposure.region_reaches), in the operator's order."""
    push = stream.spec.source.push
    if push is None:
        return None
    urls: dict[str, str] = {}
    prefixes: tuple[tuple[Role, str], ...] = (("primary", ""), ("backup", "backup_"))
    for role, prefix in prefixes:
        reach = reaches.get(role)
        if role not in ingest_roles(stream) or reach is None:
            continue
        urls |= {f"{prefix}{field}": url for field, url in push_urls(push.protocols, reach).items()}
    # WHIP's bearer is the stream key: its URL is given only where the ingest takes it (HTTPS, or plain
    # HTTP when the admin allows it: publish_over_http).
    if playback is not None and whip_on(stream, "primary") and (playback.url.startswith("https:") or publish_over_http):
        urls["push_url_whip"] = f"{playback.url}{WHIP_PATH}"
    key_ref = stream_key_ref(stream)
    primary = reaches.get("primary")
    listed = [
        RegionalIngest(
            name=region.name,
            exposure=("LoadBalancer" if region.reach.exposure == "LoadBalancer" else "NodePort")
            if region.reach
            else None,
            reachable_from=region.reachable_from,
            **(push_urls(push.protocols, region.reach) if region.reach else {}),
        )
        for region in regions
    ]
    return IngestEndpoints(
        stream_key_secret=key_ref.name if key_ref else None,
        exposure=primary.exposure if primary else None,
        reachable_from=primary.reachable_from if primary else None,
        regions=listed or None,
        **urls,
    )


def push_urls(protocols: Sequence[str], reach: Reach) -> dict[str, str]:
    """The RTMP, RTMPS and SRT server URLs of `reach` for the protocols taken (by IngestEndpoints field)."""
    urls: dict[str, str] = {}
    if "rtmp" in protocols and "rtmp" in reach.ports:
        urls["push_url"] = f"rtmp://{reach.url_host}:{reach.ports['rtmp']}/live"
    if "rtmps" in protocols and "rtmps" in reach.ports:
        urls["push_url_rtmps"] = f"rtmps://{reach.url_host}:{reach.ports['rtmps']}/live"
    if "srt" in protocols and "srt" in reach.ports:
        urls["push_url_srt"] = f"srt://{reach.url_host}:{reach.ports['srt']}"
    return urls


def reach_inputs(
    stream: LiveStream, role: Role, settings: OperatorSettings, host_ports: IngestPortMap | None, pod_host_ip: str = ""
) -> ReachInputs:
    """What decides where a role's ingest is reached, besides its Service (exposure.ingest_reach)."""
    rtmps_port = ingest_service_options(stream, settings.ingest).rtmps_port
    return ReachInputs(
        in_cluster_host=in_cluster_host(stream, role),
        default_ports={**POD_NETWORK_PORTS, "rtmps": rtmps_port} if rtmps_port else POD_NETWORK_PORTS,
        worker_address=settings.worker.address,
        external_host=settings.ingest.external_host,
        host_network=host_ports is not None,
        host_ports=host_ports,
        pod_host_ip=pod_host_ip,
    )


def playback_base(route: PlaybackRoute | None, primary: Reach) -> PlaybackBase:
    """Through the route when it has a host name; else the primary ingest's http port where it is
    reached (a route without a host: its controller's address is not the operator's to know)."""
    if route is not None and route.host:
        scheme = "https" if route.https else "http"
        return PlaybackBase(
            f"{scheme}://{route.host}{path_prefix(route.path)}",
            route.kind,
            f"anywhere that reaches {route.host} (the {route.kind})",
        )
    note = f"the {route.kind} has no host name, use its address with path {route.path}; " if route else ""
    return PlaybackBase(
        f"http://{primary.url_host}:{primary.ports.get('http', POD_NETWORK_PORTS['http'])}",
        primary.exposure,
        note + primary.reachable_from,
    )


def reader_urls(stream: LiveStream, primary: Reach | None) -> dict[str, str]:
    """SRT and RTSP for readers (Playback fields): through the primary's Service, where its push URLs
    are reached from (never a route or a CDN: neither carries SRT or RTSP)."""
    if primary is None:
        return {}
    urls: dict[str, str] = {}
    for name in reader_ports(stream, "primary"):
        if name not in primary.ports:
            continue
        port = primary.ports[name]
        if name == "srt-read":
            urls["srt_url"] = f"srt://{primary.url_host}:{port}"
        else:
            urls["rtsp_url"] = f"{name}://{primary.url_host}:{port}/live"
    return urls


def playback_urls(
    stream: LiveStream,
    base: PlaybackBase,
    whep: bool = False,
    projection: Projection | None = None,
    primary: Reach | None = None,
) -> Playback:
    """`whep`: WebRTC playback on (whep_on); `projection`: what the primary ingest's player page
    renders now (its /status; None while it reports none); `primary`: where the primary ingest is
    reached (the readers' SRT and RTSP URLs)."""
    hls = stream.spec.hls
    cdn = stream.spec.playback.cdn
    cached, reachable_from = base.url, base.reachable_from
    if cdn is not None:  # the CDN's origin is base: same path, the CDN's scheme and host
        cached = f"{'https' if cdn.https else 'http'}://{cdn.host}{urlsplit(base.url).path}"
        reachable_from = f"anywhere that reaches {cdn.host} (the CDN; WHEP: {base.reachable_from})"
    return Playback(
        hls_cmaf_url=f"{cached}{HLS_CMAF_PLAYLIST}" if hls.cmaf else None,
        hls_mpegts_url=f"{cached}{HLS_MPEGTS_PLAYLIST}" if hls.mpegts else None,
        screenshot_url=f"{cached}{SCREENSHOT_PATH}" if stream.spec.screenshots.enabled else None,
        dash_url=f"{cached}{DASH_MANIFEST}" if stream.spec.dash else None,
        player_url=f"{cached}{PLAYER_PAGE}",
        whep_url=f"{base.url}{WHEP_PATH}" if whep else None,
        exposure=base.exposure,
        reachable_from=reachable_from,
        projection=projection,
        **reader_urls(stream, primary),
    )

"""Issue 37's outsider suite: an outsider on the cluster's LAN against a signed stream with NodePort
ingest, the edge and Traefik. Every door the issue lists is refused or harmless; each assertion
names its finding. On 3627d2a the ingest's NodePort answered /feed (a signed stream's media with no
token), /status, /metrics and /viewers with 200, took a keyless overlay switch, believed a forged
X-Forwarded-For, handed WHIP and the publish page out over plain HTTP, and the edge proxied any path
with any method and made every _HLS_msn an origin request.

One signed, live stream serves every test of the module (one start, ≈60 s)."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.media.peers import Publisher
from streamops.contract.playback_token import Refusal, sign

from devtools import netns
from tests.multinode.test_playback_plane import LOW_LATENCY, edge_ready
from tests.multinode.test_streaming import start_stream, wait_live

HOST = "outsider.streams.example"


# The LAN namespace of the session's cluster (set by the module's fixture).
OUTSIDE: list[str] = []


def lan(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, bytes]:
    """A request from the LAN namespace (status, body), as an outsider sends it."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with netns.entered(OUTSIDE[0]):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def playback_key(cluster: LocalCluster, ns: str) -> bytes:
    """The namespace's current playback signing key (what `streamops playback url` signs with)."""
    secret = json.loads(cluster.kubectl("get", "secret", "-n", ns, "streamops-playback-keys", "-o", "json").stdout)
    return base64.b64decode(secret["data"]["current"])


@pytest.fixture(scope="module")
def stream(cluster: LocalCluster, release: Release) -> Iterator[dict[str, Any]]:
    ns = f"mn-out-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", ns)
    OUTSIDE[:] = [cluster.network.outside]
    started: list[Publisher] = []
    try:
        playback = {"edge": {"enabled": True}, "access": "signed", "ingress": {"className": "traefik", "host": HOST}}
        start_stream(cluster, ns, playback=playback, ingest={"service": {"type": "NodePort"}}, **LOW_LATENCY)
        key = cluster.stream_key(ns, "cam")
        current = cluster.get("livestreams", ns, "cam") or {}
        cluster.publish_from_lan(f"{current['status']['ingest']['pushUrl']}/{key}", started)
        wait_live(cluster, ns, timeout=60)
        edge_ready(cluster, ns)
        yield cluster.get("livestreams", ns, "cam") or {}
    finally:
        for p in started:
            p.stop()
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def node_port_base(cluster: LocalCluster, stream: dict[str, Any]) -> str:
    """The ingest's HTTP NodePort on the first node: what an outsider scanning the LAN finds."""
    service = cluster.get("services", stream["metadata"]["namespace"], "cam-ingest") or {}
    port = next(p["nodePort"] for p in service["spec"]["ports"] if p["name"] == "http")
    return f"http://{cluster.network.nodes[0].ip}:{port}"


def test_the_node_port_serves_no_feed_status_metrics_viewers_or_overlay_switch(
    cluster: LocalCluster, stream: dict[str, Any]
) -> None:
    base = node_port_base(cluster, stream)
    prefix = f"/streams/{stream['metadata']['namespace']}/cam"
    for path in ("/feed", "/feed/transcoded", "/status", "/metrics", "/viewers"):  # findings 1 (feeds, facts)
        for at in ("", prefix):
            status, _ = lan("GET", base + at + path)
            assert status in (401, 404), (at + path, status)
    status, _ = lan("POST", base + "/overlays", {"Content-Type": "text/plain"}, b'{"enabled": []}')  # finding 2
    assert status in (404, 405), status
    status, _ = lan("POST", base + "/backup/uplink", body=b"x")
    assert status in (404, 405), status
    # The internal Service is ClusterIP only: no NodePort to find.
    internal = cluster.get("services", stream["metadata"]["namespace"], "cam-ingest-internal") or {}
    assert internal["spec"]["type"] == "ClusterIP" and all("nodePort" not in p for p in internal["spec"]["ports"])


def test_a_forged_forwarded_address_does_not_unlock_an_address_bound_token(
    cluster: LocalCluster, stream: dict[str, Any]
) -> None:
    """Finding 3, at the NodePort (no trusted proxy) and through Traefik and the edge."""
    ns = stream["metadata"]["namespace"]
    token = sign(playback_key(cluster, ns), f"{ns}/cam", int(time.time()) + 600, ip="192.0.2.77")
    for url, headers in (
        (f"{node_port_base(cluster, stream)}/t/{token}/hls/cmaf/index.m3u8", {}),
        (f"http://{cluster.ingress_address}/streams/{ns}/cam/t/{token}/hls/cmaf/index.m3u8", {"Host": HOST}),
    ):
        status, body = lan("GET", url, {**headers, "X-Forwarded-For": "192.0.2.77"})
        assert (status, body.decode().strip()) == (Refusal.OTHER_VIEWER.status, Refusal.OTHER_VIEWER.body), url


def test_the_edge_refuses_other_paths_and_methods_and_far_future_blocking_requests(
    cluster: LocalCluster, stream: dict[str, Any]
) -> None:
    """Finding 6, through Traefik to the edge."""
    ns = stream["metadata"]["namespace"]
    base = f"http://{cluster.ingress_address}/streams/{ns}/cam"
    host = {"Host": HOST}
    for method, path in (("GET", "/feed"), ("GET", "/status"), ("POST", "/overlays"), ("PUT", "/hls/cmaf/x.m4s")):
        status, _ = lan(method, base + path, host, b"{}" if method in ("POST", "PUT") else None)
        assert status in (401, 403, 404, 405), (method, path, status)
    token = sign(playback_key(cluster, ns), f"{ns}/cam", int(time.time()) + 600)
    status, _ = lan("GET", f"{base}/t/{token}/hls/cmaf/index.m3u8?_HLS_msn=999999999999&_HLS_part=0", host)
    assert status == 400, status
    # A name the edge does not serve costs no origin request: 404.
    status, _ = lan("GET", f"http://{cluster.ingress_address}/streams/{ns}/nosuch/hls/cmaf/index.m3u8", host)
    assert status == 404, status


def test_a_whep_offer_flood_is_rate_limited(cluster: LocalCluster, stream: dict[str, Any]) -> None:
    """Finding 4: offers past the per-address burst answer 429 at once (the cap counts connected
    viewers only; an offer that never connects is dropped after 5 s: components/webrtc tests)."""
    ns = stream["metadata"]["namespace"]
    token = sign(playback_key(cluster, ns), f"{ns}/cam", int(time.time()) + 600)
    url = f"{node_port_base(cluster, stream)}/t/{token}/whep"
    offer = b"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    answers = [lan("POST", url, {"Content-Type": "application/sdp"}, offer)[0] for _ in range(30)]
    assert 429 in answers, answers

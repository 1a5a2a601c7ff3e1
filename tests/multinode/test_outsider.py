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
import re
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from devtools.catalog import recording
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import NAMESPACE as OPERATOR_NAMESPACE
from devtools.cluster.release import Release
from devtools.media.peers import Publisher
from devtools.waits import eventually
from streamops.contract.playback_token import CLOCK_SKEW_SECONDS, Refusal, sign

from devtools import netns
from tests.multinode.test_playback_plane import LOW_LATENCY, edge_ready
from tests.multinode.test_streaming import start_stream, wait_live

HOST = "outsider.streams.example"
# The stream's TURN server (finding 5): a shared secret the ingest derives per-session credentials
# from (TURN REST API). No TURN server listens: the test is about who is handed what.
TURN_SECRET = "the-lan-turn-servers-shared-secret"
ICE_SERVERS = [
    {"urls": ["stun:10.241.0.1:3478"]},
    {"urls": ["turn:10.241.0.1:3478?transport=udp"], "authSecret": TURN_SECRET, "ttlSeconds": 600},
]


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
        cluster.apply(ns, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "turn"},
            "stringData": {"iceServers": json.dumps(ICE_SERVERS)},
        })  # fmt: skip
        cluster.allow_reference(ns, "turn")
        cluster.recordings_volume(ns, cluster.nodes[0].name)
        playback: dict[str, Any] = {
            "edge": {"enabled": True}, "access": "signed", "ingress": {"className": "traefik", "host": HOST},
            "webrtc": {"iceServersSecretRef": {"name": "turn"}},
        }  # fmt: skip
        start_stream(cluster, ns, playback=playback, ingest={"service": {"type": "NodePort"}}, **LOW_LATENCY)
        key = cluster.stream_key(ns, "cam")
        current = cluster.get("livestreams", ns, "cam") or {}
        cluster.publish_from_lan(f"{current['status']['ingest']['pushUrl']}/{key}", started)
        wait_live(cluster, ns, timeout=60)
        cluster.apply(ns, recording("rec", minDurationSeconds=1))
        edge_ready(cluster, ns)
        cluster.wait_status("rec", ns, "rec", lambda o: o["status"].get("recording"), "recording", 90)
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


def turn_links(headers: Any) -> list[str]:
    return [link for link in headers.get_all("Link") or [] if link.startswith("<turn")]


def lan_headers(method: str, url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """As lan(), with the answer's headers."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    with netns.entered(OUTSIDE[0]):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()


def test_turn_credentials_go_only_to_a_viewer_with_a_token(cluster: LocalCluster, stream: dict[str, Any]) -> None:
    """Finding 5: on 3627d2a the publish page and OPTIONS /whip handed the stream's TURN credential
    to anyone (a signed stream included). Now the anonymous doors get the STUN URI only; a viewer
    with a token gets a credential derived for the session that ends with the token; the shared
    secret itself is never in an answer."""
    ns = stream["metadata"]["namespace"]
    base = node_port_base(cluster, stream)
    via_traefik = f"http://{cluster.ingress_address}/streams/{ns}/cam"
    anonymous = [
        lan_headers("OPTIONS", base + "/whip"),
        lan_headers("GET", base + "/publish"),
        lan_headers("OPTIONS", base + "/whep"),
        lan_headers("GET", base + "/player"),
        lan_headers("OPTIONS", via_traefik + "/whep", {"Host": HOST}),
        lan_headers("GET", via_traefik + "/player", {"Host": HOST}),
    ]
    for status, headers, body in anonymous:
        assert turn_links(headers) == [] and b"turn:" not in body and TURN_SECRET.encode() not in body, status
    # The test cluster allows plain HTTP for key-bearing routes (publish.allowPlainHttp): the page
    # is served, with the STUN URI only.
    assert anonymous[1][0] == 200 and b"stun:10.241.0.1:3478" in anonymous[1][2], anonymous[1][:2]
    expires = int(time.time()) + 120
    token = sign(playback_key(cluster, ns), f"{ns}/cam", expires)
    status, headers, body = lan_headers("OPTIONS", f"{base}/t/{token}/whep")
    assert status == 204 and TURN_SECRET.encode() not in body
    [link] = turn_links(headers)
    found = re.search(r'username="(\d+):[\w-]+"; credential="[^"]+"', link)
    assert found and int(found[1]) <= expires + CLOCK_SKEW_SECONDS, link  # the token's own grace


def test_no_lan_door_leads_to_a_recorders_control_and_it_asks_for_the_credential(
    cluster: LocalCluster, release: Release, stream: dict[str, Any]
) -> None:
    """Finding 8, from the LAN: no Service of the stream has a NodePort but the ingest's public
    ports, and its NodePort answers no control route; the recorder's Pod address is not reachable.
    Where a recorder's control port is reachable anyway (worker.hostNetwork, or a Pod the
    NetworkPolicies admit: the operator's here), POST /stop without the stream's worker credential
    is refused and the recording goes on. On 3627d2a that /stop ended the recording for good."""
    ns = stream["metadata"]["namespace"]
    public = {"http", "rtmp", "rtmps", "srt", "webrtc-udp", "webrtc-tcp"}
    for service in cluster.list("services", ns):
        for port in service["spec"].get("ports") or []:
            if "nodePort" in port:
                assert port["name"] in public, (service["metadata"]["name"], port)
    base = node_port_base(cluster, stream)
    for path in ("/stop", "/start", f"/streams/{ns}/cam/stop"):
        assert lan("POST", base + path, body=b"{}")[0] in (404, 405), path
    [recorder] = [p for p in cluster.list("pods", ns, "app.kubernetes.io/component=recorder")
                  if p["metadata"]["name"].startswith("rec") and p["status"].get("podIP")]  # fmt: skip
    ip = recorder["status"]["podIP"]
    port = next(p["containerPort"] for c in recorder["spec"]["containers"] for p in c.get("ports") or []
                if p["name"] == "http")  # fmt: skip
    with netns.entered(OUTSIDE[0]), pytest.raises(OSError):
        socket.create_connection((ip, port), timeout=3).close()

    operator = eventually(release.leader, timeout=60, what="an operator leader")
    post = (
        "import sys, urllib.request, urllib.error\n"
        "r = urllib.request.Request(sys.argv[1], data=b'{}', method='POST', headers=dict([sys.argv[2].split(': ', 1)]) "
        "if sys.argv[2] else {})\n"
        "try:\n    print(urllib.request.urlopen(r, timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)\n"
    )
    for header in ("", "Authorization: Bearer not-the-credential"):
        out = cluster.kubectl("exec", "-n", OPERATOR_NAMESPACE, operator, "--", "python3", "-c", post,
                              f"http://{ip}:{port}/stop", header)  # fmt: skip
        assert out.stdout.strip() == "401", (header, out.stdout, out.stderr)
    time.sleep(3)
    rec = cluster.get("recordings", ns, "rec") or {}
    assert rec["status"].get("recording") and not rec["spec"].get("stopped"), rec["status"]

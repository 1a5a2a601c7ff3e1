"""A PlaybackPolicy and SRT/RTSP readers on the 2-node pod-network cluster (issue 57; docs/design/
playback-rules.md, readers.md), from the LAN: through the ingest's NodePort (externalTrafficPolicy Local,
so the ingest sees the viewer's own address) a viewer in a denied CIDR and one placed in a denied country
by the GeoIP database (built here with MaxMind's writer, mounted through the chart's playback.geoip) get
403 with the rule on every path, an allowed one plays; ffprobe reads the stream over SRT and RTSP with
the right codecs and size and is refused without a token; status.viewers counts SRT and RTSP readers;
an edit of the policy reaches the live ingest and the edge without a Pod replaced.

Through Traefik the edge judges the LAN viewer's own address too (docs/design/playback-rules.md,
"Behind an ingress controller"): Traefik's NodePort keeps it (externalTrafficPolicy Local, a Traefik on
every node), Traefik appends it to X-Forwarded-For, and the release trusts exactly Traefik's Pods
(playback.trustedProxyCIDRs). So the edge refuses the denied CIDR and country on the playlists and a
segment, before its cache (its own answer: the ingest behind it sees only the edge's Pod), and a denied
viewer's forged X-Forwarded-For naming an allowed address changes nothing: Traefik drops a client's
own, and the edge would take the rightmost untrusted hop anyway (a forged header straight to the edge:
tests/media/test_edge_rules.py).
"""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from devtools.address_plan import CLUSTER_CIDR, OUTSIDE_IP
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import LAN_BRIDGE
from devtools.cluster.release import LOCAL_GEOIP, Release
from devtools.media.geoip import country_database
from devtools.media.hls import media_playlist
from devtools.media.peers import Publisher
from devtools.waits import eventually
from streamops.api import API_VERSION
from streamops.contract.edge import EDGE_NAME

from devtools import netns
from tests.multinode.test_playback_plane import edge_ready, playback_url
from tests.multinode.test_streaming import ingest_node, start_stream, stream_live, wait_live

pytestmark = pytest.mark.timeout(600)

DENIED = "10.241.0.201"  # in the policy's deniedCIDRs
ABROAD = "10.241.0.202"  # placed in FR, a denied country
LATER = "10.241.0.203"  # denied by the policy's edit
EDGE_PODS = f"app.kubernetes.io/instance={EDGE_NAME}"
# The LAN in DE, ABROAD in FR; in NL, denied by nothing, what the edge would see of a viewer if the
# chain lost its address (Traefik's Pod, a node's masquerading address): then DENIED and ABROAD play.
NETWORKS = {"10.241.0.0/24": "DE", f"{ABROAD}/32": "FR", str(CLUSTER_CIDR): "NL"}


@contextmanager
def lan_addresses(cluster: LocalCluster, *addresses: str) -> Iterator[None]:
    """More viewers on the LAN: addresses of its bridge (the nodes reach them on the same segment)."""
    for address in addresses:
        netns.ip("addr", "add", f"{address}/32", "dev", LAN_BRIDGE, netns=cluster.network.outside)
    try:
        yield
    finally:
        for address in addresses:
            netns.ip("addr", "del", f"{address}/32", "dev", LAN_BRIDGE, netns=cluster.network.outside, check=False)


def get_from(
    cluster: LocalCluster, source: str, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    with netns.entered(cluster.network.outside):
        connection = http.client.HTTPConnection(parts.netloc, timeout=10, source_address=(source, 0))
        try:
            connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


def probe(cluster: LocalCluster, url: str, *extra: str) -> list[tuple[str, int | None, int | None]] | None:
    """ffprobe on the LAN: the streams it reads (None: refused, or nothing read)."""
    argv = ["ffprobe", "-v", "error", "-analyzeduration", "1000000", *extra]
    argv += ["-show_entries", "stream=codec_name,width,height", "-of", "json", url]
    done = subprocess.run(netns.nsenter(cluster.network.outside, argv), capture_output=True, timeout=40, check=False)
    if done.returncode != 0:
        return None
    return [(s["codec_name"], s.get("width"), s.get("height")) for s in json.loads(done.stdout)["streams"]]


def on_node(url: str, host: str, port: int | None = None) -> str:
    """`url` through another node address (and port), its path and query kept."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"{host}:{port or parts.port}", parts.path, parts.query, ""))


def policy(ns: str, **spec: Any) -> dict[str, Any]:
    meta = {"name": "rules", "namespace": ns}
    return {"apiVersion": API_VERSION, "kind": "PlaybackPolicy", "metadata": meta, "spec": spec}


def test_rules_and_readers_from_the_lan(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher], tmp_path: Path
) -> None:
    ns = namespace
    release.trust_the_ingress_controller()  # its Pods' addresses, as the edges created below get them
    networks = NETWORKS | {f"{node.ip}/32": "NL" for node in cluster.network.nodes}
    database = country_database(tmp_path / "country.mmdb", networks).read_bytes()
    geoip = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "streamops-geoip", "namespace": ns},
             "binaryData": {LOCAL_GEOIP["file"]: base64.b64encode(database).decode()}}  # fmt: skip
    cluster.apply(ns, geoip, policy(ns, deniedCIDRs=[f"{DENIED}/32"], deniedCountries=["FR"]))
    playback = {
        "policyRef": {"name": "rules"},
        "access": "signed",
        "edge": {"enabled": True},
        "ingress": {"className": "traefik"},
        "srt": {"enabled": True},
        "rtsp": {"enabled": True},
    }
    local = {"service": {"type": "NodePort", "externalTrafficPolicy": "Local"}}
    # On the first node, the status URLs' host: with externalTrafficPolicy Local only its node answers.
    stream = start_stream(cluster, ns, on=cluster.nodes[0].name, playback=playback, ingest=local)
    cluster.publish_from_lan(
        f"{stream['status']['ingest']['pushUrl']}/{cluster.stream_key(ns, 'cam')}",
        publishers,
        live=stream_live(cluster, ns),
    )
    wait_live(cluster, ns, timeout=60)
    edge_ready(cluster, ns)
    node = cluster.network.node(ingest_node(cluster, ns) or "").ip
    service = cluster.get("services", ns, "cam-ingest") or {}
    http_port = next(p["nodePort"] for p in service["spec"]["ports"] if p["name"] == "http")
    pod = cluster.get("pods", ns, "cam-ingest") or {}

    # The signed URLs through the NodePort (status names it: the Ingress has no host) and through
    # Traefik and the edge (the route's path before the same).
    signed = playback_url(cluster, ns, "--format", "hls", "--expires", "10m")
    playlist = on_node(signed, node, http_port)
    edge_playlist = f"http://{cluster.ingress_address}/streams/{ns}/cam{urlsplit(signed).path}"
    player = on_node(playback_url(cluster, ns, "--format", "player", "--expires", "10m"), node, http_port)

    def allowed(url: str) -> tuple[int, bytes]:
        status, _, body = get_from(cluster, OUTSIDE_IP, url)
        return status, body

    media, segments = eventually(
        lambda: (found := media_playlist(playlist, allowed))[1] and found,
        timeout=60, what="the allowed viewer's playlist through the NodePort",
    )  # fmt: skip
    segment = media.rsplit("/", 1)[0] + "/" + segments[0]
    with lan_addresses(cluster, DENIED, ABROAD):
        for url in (playlist, media, segment, player):
            assert get_from(cluster, OUTSIDE_IP, url)[0] == 200, url
            for source, rule in ((DENIED, "address"), (ABROAD, "country")):
                status, headers, _ = get_from(cluster, source, url)
                assert (status, headers.get("X-Streamops-Refused")) == (403, rule), (source, url, status, headers)

        # Through Traefik and the edge: the edge's own refusals (no X-Streamops-Edge-Cache: before its
        # cache, not the ingest's answer passed on), a forged X-Forwarded-For (and its kin) included.
        edge_media, edge_segments = eventually(
            lambda: (found := media_playlist(edge_playlist, allowed))[1] and found,
            timeout=60, what="the allowed viewer's playlist through Traefik and the edge",
        )  # fmt: skip
        edge_segment = edge_media.rsplit("/", 1)[0] + "/" + edge_segments[-1]
        forged = {"X-Forwarded-For": OUTSIDE_IP, "X-Real-IP": OUTSIDE_IP, "Forwarded": f"for={OUTSIDE_IP}"}
        for url in (edge_playlist, edge_media, edge_segment):
            assert get_from(cluster, OUTSIDE_IP, url)[0] == 200, url
            for source, rule, lines in ((DENIED, "address", {}), (ABROAD, "country", {}), (DENIED, "address", forged)):
                status, headers, _ = get_from(cluster, source, url, lines)
                assert (status, headers.get("X-Streamops-Refused")) == (403, rule), (source, lines, url, headers)
                assert "X-Streamops-Edge-Cache" not in headers, ("the edge's own refusal", source, url, headers)

    # Readers through the NodePort: ffprobe over SRT and RTSP, the token where each takes it.
    srt = on_node(playback_url(cluster, ns, "--format", "srt", "--expires", "10m"), node)
    rtsp = on_node(playback_url(cluster, ns, "--format", "rtsp", "--expires", "10m"), node)
    av = [("h264", 640, 360), ("aac", None, None)]
    assert eventually(lambda: probe(cluster, srt), timeout=30, what="an SRT read") == av
    assert probe(cluster, rtsp, "-rtsp_transport", "tcp") == av
    assert probe(cluster, srt.split("&streamid=")[0]) is None, "SRT without a token"
    assert probe(cluster, rtsp.split("?")[0], "-rtsp_transport", "tcp") is None, "RTSP without a token"
    readers = [
        subprocess.Popen(
            netns.nsenter(cluster.network.outside, ["ffmpeg", "-v", "error", *args, "-c", "copy", "-f", "null", "-"]),
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for args in (["-i", srt], ["-rtsp_transport", "tcp", "-i", rtsp])
    ]
    try:
        cluster.wait_status(
            "lst", ns, "cam", lambda o: o["status"]["viewers"]["srt"] == 1 and o["status"]["viewers"]["rtsp"] == 1,
            "status.viewers counts an SRT and an RTSP reader", timeout=30,
        )  # fmt: skip
    finally:
        for reader in readers:
            reader.kill()
            reader.wait(timeout=10)

    # An edit of the policy denies LATER: the edge refuses it by itself (the ingest behind it sees the
    # edge's Pod), so does the live ingest at its NodePort; the LAN's allowed viewer still plays; no
    # ingest or edge Pod replaced.
    edges = {p["metadata"]["uid"] for p in cluster.list("pods", ns, EDGE_PODS)}

    def refused_by_all(url: str) -> list[dict[str, str]] | None:
        """The headers of LATER's 403s on four requests in a row (Traefik takes turns between the edge
        replicas, whose mounts the kubelet updates one by one), or None while one is not refused."""
        answers = [get_from(cluster, LATER, url) for _ in range(4)]
        return [headers for _, headers, _ in answers] if all(a[0] == 403 for a in answers) else None

    with lan_addresses(cluster, LATER):
        assert get_from(cluster, LATER, edge_playlist)[0] == 200
        cluster.apply(ns, policy(ns, deniedCIDRs=[f"{DENIED}/32", f"{LATER}/32"], deniedCountries=["FR"]))
        for url in (edge_playlist, playlist):
            answers = eventually(
                lambda url=url: refused_by_all(url), timeout=90, what=f"the edit at {url} (the kubelet's sync)"
            )
            assert all(headers.get("X-Streamops-Refused") == "address" for headers in answers), answers
            assert url == playlist or not any("X-Streamops-Edge-Cache" in h for h in answers), "the edge's own"
        assert get_from(cluster, OUTSIDE_IP, edge_playlist)[0] == get_from(cluster, OUTSIDE_IP, playlist)[0] == 200
    assert (cluster.get("pods", ns, "cam-ingest") or {})["metadata"]["uid"] == pod["metadata"]["uid"]
    assert {p["metadata"]["uid"] for p in cluster.list("pods", ns, EDGE_PODS)} == edges

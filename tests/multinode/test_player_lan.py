"""The player page as a viewer on the LAN opens it (issue 25): Chromium in the cluster's LAN namespace,
the stream's Ingress host resolved to the cluster's front door (Traefik's NodePort), the page at
`status.playback.playerUrl` through Traefik; standard HLS, LL-HLS and DASH play without a stall and
seek in the DVR window (the checks of tests/browser/test_player.py on loopback, over 10 s of play
instead of 30).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from devtools.cluster import addons
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.media.browser import Browser
from devtools.media.clock_source import ClockPublisher

from tests.browser.test_player import DVR, plays_and_seeks
from tests.multinode.test_streaming import start_stream, wait_live

pytestmark = pytest.mark.timeout(600)


@contextlib.contextmanager
def clock_from_lan(cluster: LocalCluster, url: str, workdir: Path) -> Iterator[ClockPublisher]:
    """The clock source on the LAN pushing to `url` until its connection holds: like OBS (and
    LocalCluster.publish_from_lan) it tries again when refused, as kube-proxy programs a new
    endpoint a moment after the ingest Pod turns Ready."""
    started: list[ClockPublisher] = []
    try:
        for attempt in range(10):
            log = workdir / f"clock-{attempt}.log"
            started.append(ClockPublisher(url, netns=cluster.network.outside, log_path=log).start())
            time.sleep(2)
            if started[-1].running:
                yield started[-1]
                return
        raise AssertionError(f"the clock source could not connect:\n{started[-1].log_tail()}")
    finally:
        for publisher in started:
            publisher.stop()


def the_path(cluster: LocalCluster, ns: str) -> str:
    """Where the page's requests went, for a stall's message: the node the LAN reaches (Traefik's
    Service is externalTrafficPolicy Local: that node's Traefik Pod serves it), each Traefik Pod's
    node, readiness and restarts, the Traefik Service's endpoints by node, the ingest Pods' nodes,
    the load average, and the last lines of the reached node's Traefik."""
    reached = next(n.name for n in cluster.network.nodes if cluster.ingress_address.startswith(f"{n.ip}:"))
    lines = [f"the LAN reaches {cluster.ingress_address} (node {reached}); load average {os.getloadavg()}"]
    reached_pod = ""
    for pod in cluster.list("pods", addons.TRAEFIK_NAMESPACE, "app.kubernetes.io/name=traefik"):
        status, node = pod.get("status") or {}, (pod.get("spec") or {}).get("nodeName")
        reached_pod = pod["metadata"]["name"] if node == reached else reached_pod
        containers = status.get("containerStatuses") or [{}]
        lines.append(
            f"traefik {pod['metadata']['name']} on {node}: {status.get('podIP')}, ready {containers[0].get('ready')}, "
            f"restarts {containers[0].get('restartCount')}, started {containers[0].get('state', {}).get('running')}"
        )
    for slice_ in cluster.list("endpointslices", addons.TRAEFIK_NAMESPACE, "kubernetes.io/service-name=traefik"):
        lines += [f"traefik endpoint {e.get('addresses')} on {e.get('nodeName')}: {e.get('conditions')}"
                  for e in slice_.get("endpoints") or []]  # fmt: skip
    for pod in cluster.list("pods", ns):
        lines.append(f"{pod['metadata']['name']} on {(pod.get('spec') or {}).get('nodeName')}")
    if reached_pod:
        logs = cluster.kubectl("logs", "-n", addons.TRAEFIK_NAMESPACE, reached_pod, "--tail=15", check=False)
        lines += [f"{reached_pod}: {line}" for line in logs.stdout.splitlines()]
    return "\n  ".join(lines)


# On the LAN the path is what is new (the Ingress host, Traefik, the segments through the cluster's
# front door): each page plays 10 s without a stall, then seeks once the DVR window holds 20 s. The
# 30 s without a stall is the page's own property, measured on loopback (tests/browser/test_player.py).
LAN_PLAY_SECONDS = 10


@pytest.mark.parametrize(
    ("settings", "queries"),
    # Standard HLS and DASH are one stream (DASH is one more output of the ingest's FFmpeg), played by
    # one page after the other. format=hls: the page's default (auto) plays WebRTC first (WHEP is on
    # by default; test_webrtc_lan.py).
    [({"dash": True}, ("?format=hls", "?format=dash")), ({"hls": {"latencyMode": "low"}}, ("?format=hls",))],
    ids=["hls-and-dash", "ll-hls"],
)
def test_the_player_page_through_the_ingress_plays_and_seeks_from_the_lan(
    cluster: LocalCluster,
    release: Release,
    namespace: str,
    settings: dict[str, Any],
    queries: tuple[str, ...],
    tmp_path: Path,
) -> None:
    ns = namespace
    host = "watch.streams.example"
    stream = start_stream(cluster, ns, playback={"ingress": {"className": "traefik", "host": host}}, **DVR, **settings)
    key = cluster.stream_key(ns, "cam")
    with clock_from_lan(cluster, f"{stream['status']['ingest']['pushUrl']}/{key}", tmp_path):
        wait_live(cluster, ns, timeout=60)
        stream = cluster.wait_status(
            "lst", ns, "cam", lambda o: o["status"]["playback"].get("playerUrl", "").startswith(f"http://{host}/"),
            "the player URL on the Ingress host",
        )  # fmt: skip
        player = stream["status"]["playback"]["playerUrl"]
        assert urlsplit(player).hostname == host
        with Browser(netns=cluster.network.outside, mapped_hosts={host: cluster.ingress_address}) as browser:
            for query in queries:
                page = browser.open(player + query)
                try:
                    path = functools.partial(the_path, cluster, ns)  # what a stall's message adds
                    plays_and_seeks(page, settings, query, timeout=90, seconds=LAN_PLAY_SECONDS, context=path)
                finally:
                    page.close()

"""Issue 37's tenant suite on the pod-network cluster, its NetworkPolicies enforced by the real engine
(kube-network-policies; the operator puts the workers' policies into each namespace): what a user
who may create LiveStreams and StreamWebhooks in a namespace points at is refused at admission or by
the egress guard, and says "refused by policy", never more. On 3627d2a an overlay at another
namespace's ingest /status was `rendering` and a webhook at an internal Service was delivered or
reported as a port scan would want; a route under another namespace's prefix was created."""

from __future__ import annotations

import uuid

import pytest
from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import OUTSIDE_IP
from devtools.cluster.release import Release
from devtools.media.peers import Publisher
from devtools.waits import eventually

from tests.cluster.test_webhooks import webhook
from tests.multinode.test_streaming import ingest_node, rtmp_url, start_stream, wait_live

pytestmark = pytest.mark.timeout(600)
REFUSED = "refused by policy"


def other_namespace() -> str:
    """Another tenant's namespace (a route's prefix needs only its name)."""
    return f"mn-other-{uuid.uuid4().hex[:6]}"


def test_overlays_at_the_metadata_address_and_another_namespaces_service_are_refused(
    cluster: LocalCluster, release: Release, namespace: str
) -> None:
    cluster.pull_images([cluster.overlay_image])  # ≈340 MiB from the registry before the stream starts
    # Another namespace's Service: the cluster DNS's (kube-system), by its ClusterIP, its metrics port.
    dns = (cluster.get("services", "kube-system", "kube-dns") or {})["spec"]["clusterIP"]
    box = {"left": 5, "top": 5, "width": 40, "height": 20}
    overlays = [
        {"name": "metadata", "url": "http://169.254.169.254/latest/meta-data/", **box},
        {"name": "tenant", "url": f"http://{dns}:9153/metrics", **box},
    ]
    ladder = {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]}
    cluster.apply(namespace, livestream("cam", transcoding=ladder, screenshots={"enabled": False}, overlays=overlays))

    def refused() -> list[dict] | None:
        found = (cluster.get("livestreams", namespace, "cam") or {}).get("status", {}).get("overlays") or []
        return found if len(found) == 2 and all(REFUSED in (o.get("message") or "") for o in found) else None

    reports = eventually(refused, timeout=120, interval=1, what="both overlays refused by policy")
    assert all(o["state"] == "failing" for o in reports), reports


def test_a_webhook_at_an_internal_service_is_refused_by_policy(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher]
) -> None:
    ns = namespace
    cluster.kubectl("create", "secret", "generic", "hook-secret", "-n", ns, "--from-literal=secret=s3cret-hook-key")
    cluster.allow_reference(ns, "hook-secret")
    stream = start_stream(cluster, ns, screenshots={"enabled": False})
    # The stream's own internal Service, by its ClusterIP: what a port scan of the cluster would try.
    internal = (cluster.get("services", ns, "cam-ingest-internal") or {})["spec"]["clusterIP"]
    cluster.apply(ns, webhook("scan", f"http://{internal}:8081/status", events=["stream.*"]))
    # And by its name, which the operator resolves through the cluster's DNS (allowed by its policy).
    by_name = f"http://cam-ingest-internal.{ns}.svc.cluster.local:8081/status"
    cluster.apply(ns, webhook("scan-name", by_name, events=["stream.*"]))
    cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers)
    wait_live(cluster, ns, timeout=60)

    for name in ("scan", "scan-name"):

        def failure(name: str = name) -> dict | None:
            status = (cluster.get("streamwebhooks", ns, name) or {}).get("status") or {}
            return status.get("lastFailure")

        last = eventually(failure, timeout=60, interval=1, what=f"a refused delivery of {name}")
        assert last["error"] == REFUSED and last.get("httpStatus") is None and last["durationMs"] == 0, last
        assert not (cluster.get("streamwebhooks", ns, name) or {}).get("status", {}).get("lastDelivery")


def test_a_route_under_another_namespaces_prefix_is_refused_at_admission(
    cluster: LocalCluster, release: Release, namespace: str
) -> None:
    other = other_namespace()
    playback = {"ingress": {"className": "traefik", "path": f"/streams/{other}/cam"}}
    cluster.apply(namespace, livestream("cam", playback=playback))
    stalled = cluster.wait_status(
        "lst", namespace, "cam", lambda o: (condition(o, "Stalled") or {}).get("reason") == "RefusedByPolicy",
        "Stalled: RefusedByPolicy", timeout=60,
    )  # fmt: skip
    assert f"/streams/{namespace}/" in (condition(stalled, "Stalled") or {})["message"], stalled["status"]
    assert cluster.get("ingresses", namespace, "cam-playback") is None, "no route under another tenant's URLs"


def test_with_the_local_policy_the_push_url_names_the_ingests_node_and_the_front_sees_the_encoder(
    cluster: LocalCluster, release: Release, namespace: str, publishers: list[Publisher]
) -> None:
    """externalTrafficPolicy Local (issue 52; docs/design/exposure.md): only a node running the ingest
    answers its nodePorts, and kube-proxy there keeps the encoder's own address (no SNAT), which the
    RTMP front's per-source caps need. On ec95e86 status named the operator's externalHost (node-1)
    wherever the ingest ran: with the ingest on node-2 that URL was refused."""
    ns = namespace
    first, second = cluster.nodes[0].name, cluster.nodes[1].name
    local = {"service": {"type": "NodePort", "externalTrafficPolicy": "Local"}}  # NodePort: the admin's default
    with cluster.scheduling_away_from([first]):
        cluster.apply(ns, livestream("cam", ingest=local, screenshots={"enabled": False}))
        eventually(lambda: ingest_node(cluster, ns), timeout=60, what="ingest Pod scheduled")
    assert ingest_node(cluster, ns) == second
    host = cluster.network.nodes[1].ip
    assert host != cluster.network.nodes[0].ip, "not the operator's externalHost"
    stream = cluster.wait_status(
        "lst", ns, "cam",
        lambda o: o["status"]["ingest"]["pushUrl"].startswith(f"rtmp://{host}:")
        and condition(o, "Ready")["status"] == "True",  # type: ignore[index]
        "Ready with push URLs on the ingest's node", timeout=120,
    )  # fmt: skip
    assert "externalTrafficPolicy Local" in stream["status"]["ingest"]["reachableFrom"], stream["status"]["ingest"]
    cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers)
    wait_live(cluster, ns, timeout=60)

    def accepted() -> str | None:
        logs = cluster.kubectl("logs", "-n", ns, "cam-ingest", "--tail=200", check=False).stdout
        return logs if "RTMP publisher" in logs and "accepted" in logs else None

    logs = eventually(accepted, timeout=30, what="the ingest's log of the accepted publisher")
    assert f"RTMP publisher {OUTSIDE_IP}:" in logs, logs[-2000:]

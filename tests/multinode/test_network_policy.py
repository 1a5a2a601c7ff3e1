"""The chart's NetworkPolicies (charts/streamops/templates/networkpolicy.yaml) enforced by a real
engine: kube-network-policies on every node of the pod-network cluster (devtools.cluster.node).
One stream's namespace gets the workers' policies (networkPolicy.workerNamespaces); another
namespace plays a second tenant with a Pod and a Service of its own. Each probe is a TCP connect
made from inside a Pod (kubectl exec): "open" when it connects, "blocked" when the engine drops the
SYN (the connect times out), and a probe that must pass runs beside each one that must not, so a
"blocked" cannot be a broken network. Why and what the policies allow: docs/design/network-policy.md.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import OUTSIDE_IP
from devtools.cluster.release import NAMESPACE as OPERATOR_NAMESPACE
from devtools.cluster.release import Release
from devtools.waits import eventually

from devtools import netns
from tests.multinode.test_streaming import start_stream

pytestmark = pytest.mark.timeout(600)

PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("open")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("blocked", e)
"""
METADATA_ADDRESS = "169.254.169.254"
INTERNAL_PORT = 8081  # the ingests' internal port (networkPolicy.internalPort's default)
KUBELET_PORT = 10250


def reach(cluster: LocalCluster, ns: str, pod: str, host: str, port: int, timeout: float = 3) -> str:
    """What a TCP connect from `pod` to host:port gives: open, refused or blocked (timed out)."""
    out = cluster.kubectl("exec", "-n", ns, pod, "--", "python3", "-c", PROBE, host, str(port), str(timeout),
                          check=False)  # fmt: skip
    return (out.stdout.strip() or out.stderr.strip()).split(" ", 1)[0]


Probe = tuple[str, str, str, int]  # from (namespace, Pod) to (host, port)


def reach_all(cluster: LocalCluster, probes: dict[str, Probe]) -> dict[str, str]:
    """reach() for each probe, all at once: a "blocked" is a connect left to time out (3 s), and one
    after another the two tests' 17 probes waited for seven of them in a row (42.7 s in ci51)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(probes)) as pool:
        futures = {name: pool.submit(reach, cluster, *probe) for name, probe in probes.items()}
        return {name: future.result() for name, future in futures.items()}


def named_port(pod: dict[str, Any], name: str) -> int | None:
    for c in pod["spec"]["containers"]:
        for p in c.get("ports") or []:
            if p["name"] == name:
                return int(p["containerPort"])
    return None


def plain_pod(
    name: str, image: str, labels: dict[str, str], port_name: str = "http", port: int = 8080
) -> dict[str, Any]:
    """A Pod of the worker image serving HTTP on `port` (named `port_name`): a stand-in for a
    tenant's Pod, or for a worker the policies select by its labels."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "-m", "http.server", str(port)],
                "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
            }],
        },
    }  # fmt: skip


def running_pod_ip(cluster: LocalCluster, ns: str, name: str) -> str:
    pod = eventually(lambda: cluster.pod_running(ns, name), timeout=90, interval=0.5, what=f"pod {ns}/{name} running")
    return str(pod["status"]["podIP"])


@pytest.fixture(scope="module")
def tenants(cluster: LocalCluster, release: Release) -> Iterator[dict[str, Any]]:
    """Namespace `streams` with the workers' policies (a helm upgrade naming it) and a stand-in
    recorder; namespace `other`: a tenant's Pod behind a Service, no policy."""
    streams, other = f"np-{uuid.uuid4().hex[:6]}", f"np-other-{uuid.uuid4().hex[:6]}"
    image = cluster.image_ref(cluster.worker_image)
    for ns in (streams, other):
        cluster.kubectl("create", "namespace", ns)
    try:
        began = time.monotonic()
        release.upgrade({"networkPolicy": {"workerNamespaces": [streams]}})
        print(f"\nhelm upgrade with the workers' policies in {streams}: {time.monotonic() - began:.1f}s")
        worker_labels = {
            "app.kubernetes.io/name": "streamops", "app.kubernetes.io/managed-by": "streamops",
            "app.kubernetes.io/component": "recorder", "streaming.streamops.dev/stream": "cam",
        }  # fmt: skip
        cluster.apply(streams, plain_pod("recorder-standin", image, worker_labels))
        # A tenant's Pod listening on the ingests' internal port number, with no policy of its own.
        cluster.apply(other, plain_pod("tenant-8081", image, {"app": "tenant-8081"}, port=INTERNAL_PORT))
        cluster.apply(other, plain_pod("tenant", image, {"app": "tenant"}), {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "tenant"},
            "spec": {"selector": {"app": "tenant"}, "ports": [{"port": 8080, "targetPort": 8080}]},
        })  # fmt: skip
        yield {
            "streams": streams,
            "other": other,
            "recorder_ip": running_pod_ip(cluster, streams, "recorder-standin"),
            "tenant_ip": running_pod_ip(cluster, other, "tenant"),
            "tenant_8081_ip": running_pod_ip(cluster, other, "tenant-8081"),
            "tenant_service": cluster.get("services", other, "tenant")["spec"]["clusterIP"],  # type: ignore[index]
        }
    finally:
        # The install back first, then the namespaces: deleted first, the old operator had the
        # stream's objects to finalise while the rollout waited for it to stop (one CI run at load
        # ≈7 spent 56 s in this teardown; 7 s on an idle machine).
        release.upgrade()
        for ns in (streams, other):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def ingest(cluster: LocalCluster, tenants: dict[str, Any]) -> dict[str, Any]:
    """The stream's ingest Pod in the protected namespace (push RTMP/SRT, NodePort)."""
    ns = tenants["streams"]
    start_stream(cluster, ns)
    pods = eventually(
        lambda: [p for p in cluster.list("pods", ns, "app.kubernetes.io/component=ingest")
                 if cluster.pod_running(ns, p["metadata"]["name"])],
        timeout=90, interval=0.5, what="the ingest Pod running",
    )  # fmt: skip
    return dict(pods[0])


@pytest.fixture(scope="module")
def operator_pod(release: Release) -> str:
    return eventually(release.leader, timeout=60, what="an operator leader")


@pytest.fixture(scope="module")
def lan_listener(cluster: LocalCluster) -> Iterator[int]:
    """A TCP listener on the LAN's allow-listed address (where S3, webhook receivers and restream
    targets of the other tests listen): its port."""
    with netns.entered(cluster.network.outside):
        server = socket.create_server((OUTSIDE_IP, 0), backlog=64)
    with contextlib.closing(server):
        yield int(server.getsockname()[1])


def test_every_node_runs_the_engine(cluster: LocalCluster, tenants: dict[str, Any]) -> None:
    """kube-network-policies holds its nftables table in each node's network namespace."""
    for node in cluster.nodes:
        assert node.policy_engine_tables() == ["nft table inet kube-network-policies"], node.name


def test_internal_ports_answer_the_operator_and_own_workers_only(
    cluster: LocalCluster, tenants: dict[str, Any], ingest: dict[str, Any], operator_pod: str
) -> None:
    """The ingest's internal port (feeds, status, metrics, overlay switch) and a recorder's http
    (control, status) from another namespace: blocked; from the operator: open; the ingest's
    internal port from a worker of its own namespace: open; the ingest's public http from anywhere."""
    streams, other = tenants["streams"], tenants["other"]
    ingest_ip, ingest_pod = ingest["status"]["podIP"], ingest["metadata"]["name"]
    internal, public = named_port(ingest, "internal"), named_port(ingest, "http")
    assert internal and public, json.dumps(ingest["spec"]["containers"][0].get("ports"))
    got = reach_all(cluster, {
        "other -> ingest internal": (other, "tenant", ingest_ip, internal),
        "other -> recorder http": (other, "tenant", tenants["recorder_ip"], 8080),
        "other -> ingest http (public)": (other, "tenant", ingest_ip, public),
        "operator -> ingest internal": (OPERATOR_NAMESPACE, operator_pod, ingest_ip, internal),
        "operator -> recorder http": (OPERATOR_NAMESPACE, operator_pod, tenants["recorder_ip"], 8080),
        "recorder -> ingest internal": (streams, "recorder-standin", ingest_ip, internal),
        "ingest -> recorder http": (streams, ingest_pod, tenants["recorder_ip"], 8080),
    })  # fmt: skip
    assert got == {
        "other -> ingest internal": "blocked",
        "other -> recorder http": "blocked",
        "other -> ingest http (public)": "open",
        "operator -> ingest internal": "open",
        "operator -> recorder http": "open",
        "recorder -> ingest internal": "open",
        # Only the operator and the metrics scraper reach a recorder's control port.
        "ingest -> recorder http": "blocked",
    }


def test_the_ingest_public_port_answers_the_lan(cluster: LocalCluster, ingest: dict[str, Any]) -> None:
    """A viewer on the LAN reaches the ingest's http through its NodePort (source: a LAN address)."""
    ns = ingest["metadata"]["namespace"]
    services = cluster.list("services", ns, "app.kubernetes.io/component=ingest")
    ports = [p for s in services if s["spec"]["type"] == "NodePort" for p in s["spec"]["ports"] if p["name"] == "http"]
    assert ports, [s["metadata"]["name"] for s in services]
    url = f"http://{cluster.network.nodes[0].ip}:{ports[0]['nodePort']}/"
    status = eventually(lambda: cluster.lan_get(url)[0], timeout=20, interval=0.5, what=f"an answer to GET {url}")
    assert status > 0


def test_egress_of_the_ingest_and_the_operator_stays_off_internal_addresses(
    cluster: LocalCluster, tenants: dict[str, Any], ingest: dict[str, Any], operator_pod: str, lan_listener: int
) -> None:
    """The ingest (pull sources, overlay pages) and the operator (webhook receivers) reach the LAN
    host the install allow-lists, never another namespace's Service or another node's kubelet (a
    private address not on the allow-list), which the unrestricted tenant Pod reaches."""
    other, ingest_pod = tenants["other"], ingest["metadata"]["name"]
    streams = tenants["streams"]
    # A node other than the ingest's: a Pod's packets to its own node's address are delivered
    # locally, never pass the engine's postrouting hook (docs/design/network-policy.md, limits).
    kubelet = next(n.ip for n in cluster.network.nodes if n.name != ingest["spec"]["nodeName"])
    service = tenants["tenant_service"]
    got = reach_all(cluster, {
        "tenant -> own Service": (other, "tenant", service, 8080),
        "tenant -> kubelet": (other, "tenant", kubelet, KUBELET_PORT),
        "ingest -> other namespace's Service": (streams, ingest_pod, service, 8080),
        # Issue 52, finding 8: the rule for the internal port had no `to` (open on ec95e86).
        "tenant -> other Pod on 8081": (other, "tenant", tenants["tenant_8081_ip"], INTERNAL_PORT),
        "ingest -> other namespace's Pod on 8081": (streams, ingest_pod, tenants["tenant_8081_ip"], INTERNAL_PORT),
        "ingest -> kubelet": (streams, ingest_pod, kubelet, KUBELET_PORT),
        "ingest -> allow-listed LAN host": (streams, ingest_pod, OUTSIDE_IP, lan_listener),
        "operator -> other namespace's Service": (OPERATOR_NAMESPACE, operator_pod, service, 8080),
        "operator -> allow-listed LAN host": (OPERATOR_NAMESPACE, operator_pod, OUTSIDE_IP, lan_listener),
        # The island has no route to the metadata address at all (a "blocked" here proves nothing
        # about the policy, whose except list holds 169.254.0.0/16: tests/chart); it must not connect.
        "ingest -> metadata address": (streams, ingest_pod, METADATA_ADDRESS, 80),
    })  # fmt: skip
    metadata = got.pop("ingest -> metadata address")
    assert metadata != "open"
    assert got == {
        "tenant -> own Service": "open",
        "tenant -> kubelet": "open",
        "ingest -> other namespace's Service": "blocked",
        "tenant -> other Pod on 8081": "open",
        "ingest -> other namespace's Pod on 8081": "blocked",
        "ingest -> kubelet": "blocked",
        "ingest -> allow-listed LAN host": "open",
        "operator -> other namespace's Service": "blocked",
        "operator -> allow-listed LAN host": "open",
    }

"""The local cluster's network is a real one: Pods on both nodes get addresses from their node's
range and reach each other across nodes, ClusterIP and NodePort Services work through kube-proxy,
cluster DNS resolves Service names, `kubectl exec` reaches the kubelets, and nothing inside the
island can route anywhere outside it."""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from devtools.address_plan import API_IP
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import CLUSTER_CIDR, OUTSIDE_IP, UNROUTABLE_PROBE, ClusterNetwork, NetworkError
from devtools.waits import eventually

from devtools import netns

SERVER = (
    "import http.server, socket\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = socket.gethostname().encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *a): pass\n"
    "http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()\n"
)


def echo_pod(cluster: LocalCluster, name: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "echo",
                    "image": cluster.image_ref(cluster.worker_image),  # pulled from the cluster's registry
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python3", "-c", SERVER],
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }
            ],
        },
    }


def service(name: str, type_: str = "ClusterIP") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"type": type_, "selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]},
    }


def fetch_in_pod(cluster: LocalCluster, ns: str, pod: str, url: str) -> str | None:
    """The body, or None while it fails: a new Service's rules reach kube-proxy a moment after it is
    created (until then the node, which has no default route, answers "network unreachable")."""
    code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    result = cluster.kubectl("exec", "-n", ns, pod, "--", "python3", "-c", code, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def start_pods(cluster: LocalCluster, ns: str, pods: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
    names = [p["metadata"]["name"] for p in pods]
    cluster.kubectl("wait", "-n", ns, "--for=condition=Ready", "--timeout=120s", *(f"pod/{n}" for n in names))
    return {n: json.loads(cluster.kubectl("get", "pod", "-n", ns, n, "-o", "json").stdout) for n in names}


def test_nodes_have_their_addresses(cluster: LocalCluster) -> None:
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    by_name = {n["metadata"]["name"]: n for n in nodes}
    assert sorted(by_name) == ["node-1", "node-2"]
    for planned in cluster.network.nodes:
        addresses = {a["type"]: a["address"] for a in by_name[planned.name]["status"]["addresses"]}
        assert addresses["InternalIP"] == planned.ip


def test_pods_reach_each_other_across_nodes(cluster: LocalCluster, namespace: str) -> None:
    pods = start_pods(cluster, namespace, [echo_pod(cluster, "a", "node-1"), echo_pod(cluster, "b", "node-2")])
    for name, node in (("a", cluster.network.nodes[0]), ("b", cluster.network.nodes[1])):
        ip = pods[name]["status"]["podIP"]
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(node.pod_cidr), (name, ip, node)
    # Pod to Pod across nodes, by address.
    assert fetch_in_pod(cluster, namespace, "a", f"http://{pods['b']['status']['podIP']}:8080/") == "b"
    assert fetch_in_pod(cluster, namespace, "b", f"http://{pods['a']['status']['podIP']}:8080/") == "a"


def test_cluster_ip_service_by_dns_name(cluster: LocalCluster, namespace: str) -> None:
    start_pods(cluster, namespace, [echo_pod(cluster, "client", "node-1"), echo_pod(cluster, "web", "node-2")])
    cluster.apply(namespace, service("web"))
    url = f"http://web.{namespace}.svc.cluster.local/"
    assert eventually(lambda: fetch_in_pod(cluster, namespace, "client", url), timeout=30, what=url) == "web"
    # The short name, through the search path kubelet writes into the Pod's resolv.conf.
    assert fetch_in_pod(cluster, namespace, "client", "http://web/") == "web"


def test_node_port_from_outside_the_cluster(cluster: LocalCluster, namespace: str) -> None:
    start_pods(cluster, namespace, [echo_pod(cluster, "site", "node-2")])
    cluster.apply(namespace, service("site", "NodePort"))
    svc = json.loads(cluster.kubectl("get", "svc", "-n", namespace, "site", "-o", "json").stdout)
    node_port = svc["spec"]["ports"][0]["nodePort"]

    def get(url: str) -> str | None:
        with netns.entered(cluster.network.outside):  # a viewer on the cluster's LAN
            try:
                return urllib.request.urlopen(url, timeout=3).read().decode()  # type: ignore[no-any-return]
            except OSError:
                return None

    # Through either node: node-1 forwards to the Pod on node-2.
    for node in cluster.network.nodes:
        url = f"http://{node.ip}:{node_port}/"
        assert eventually(lambda url=url: get(url), timeout=30, what=url) == "site"


def test_cluster_dns_answers_only_cluster_names(cluster: LocalCluster, namespace: str) -> None:
    start_pods(cluster, namespace, [echo_pod(cluster, "resolver", "node-2")])
    code = (
        "import socket\n"
        "print(socket.gethostbyname('kubernetes.default.svc.cluster.local'))\n"
        "try:\n"
        "    socket.gethostbyname('example.com.')\n"
        "    print('resolved')\n"
        "except OSError:\n"
        "    print('no upstream')\n"
    )
    out = cluster.kubectl("exec", "-n", namespace, "resolver", "--", "python3", "-c", code).stdout.splitlines()
    assert out == [cluster.plane.service_cidr.replace("0/16", "1"), "no upstream"]


def test_nothing_routes_outside_the_island(cluster: LocalCluster, namespace: str) -> None:
    assert cluster.network.confinement_problems() == []
    start_pods(cluster, namespace, [echo_pod(cluster, "probe", "node-1")])
    code = (
        "import socket\n"
        f"try:\n    socket.create_connection(({UNROUTABLE_PROBE!r}, 80), timeout=5); print('connected')\n"
        "except OSError as e:\n    print(e.errno)\n"
    )
    # The Pod's default route leads to its node, whose routing table has no way out: the node
    # answers at once with ICMP unreachable (EHOSTUNREACH 113 / ENETUNREACH 101), not a time-out.
    errno = cluster.kubectl("exec", "-n", namespace, "probe", "--", "python3", "-c", code).stdout.strip()
    assert errno in ("101", "113"), errno
    # Pods do reach the LAN (their egress is masqueraded to the node's address).
    assert ipaddress.ip_address(OUTSIDE_IP) not in CLUSTER_CIDR


def test_a_killed_runs_island_is_removed_and_a_running_one_is_named(cluster: LocalCluster, tmp_path: Path) -> None:
    """A run killed before its teardown leaves its namespaces, addresses and routes and no process:
    the next run's `up` removes them. A running cluster's island is never touched: `up` refuses and
    names it. (A leftover island once failed all 54 multinode tests of a CI run at setup.)"""
    killed = ClusterNetwork(tmp_path / "killed-run", nodes=1)
    for name in killed.namespaces():
        netns.create(name)
    netns.ip("addr", "add", f"{API_IP}/24", "dev", "lo", netns=killed.control)  # in the ranges, as it was
    try:
        newcomer = ClusterNetwork(tmp_path / "next-run", nodes=2)
        assert newcomer.stale_islands() == {killed.prefix: sorted(killed.namespaces())}
        assert cluster.network.prefix in newcomer.other_islands()
        with pytest.raises(NetworkError, match=f"island {cluster.network.prefix} of a running cluster"):
            newcomer.up()
        assert killed.existing() == []
        assert newcomer.existing() == []
        assert sorted(cluster.network.existing()) == sorted(cluster.network.namespaces())
        assert cluster.kubectl("get", "nodes").returncode == 0
    finally:
        for name in killed.namespaces():
            netns.delete(name)

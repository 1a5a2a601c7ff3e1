"""The cluster add-ons' binaries against a real API server, as host processes on 127.0.0.1 under
the ServiceAccounts and RBAC that devtools.cluster.addons ships (so a missing rule fails here, not in the
multi-node cluster): CoreDNS answers Services of the cluster domain and NXDOMAIN for the rest,
Traefik serves an Ingress (to a backend on 127.0.0.1, through an ExternalName Service: Endpoints
may not hold loopback addresses) and accepts the Gateway and an HTTPRoute."""

from __future__ import annotations

import http.server
import ipaddress
import json
import os
import re
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.cluster import addons, metrics_server, prometheus_operator
from devtools.cluster.controlplane import ControlPlane
from devtools.cluster.images import ImageBuilder
from devtools.cluster.kubectl import Kubectl
from devtools.ports import free_port
from devtools.versions import coredns_bin, sourced, traefik_bin
from devtools.waits import eventually

LOOPBACK = "127.0.0.1"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    # No controller-manager: nothing here runs a Pod or needs a controller (the ClusterIPs, tokens,
    # CRDs' Established and dry runs are the API server's own); its start-up waited for the `default`
    # ServiceAccount, ≈ 3.5 s of every run (docs/design/test-harness.md, "The chart tier's planes").
    with ControlPlane(tmp_path_factory.mktemp("addons") / "cp", controller_manager=False) as cp:
        yield cp


@pytest.fixture(scope="module")
def admin(plane: ControlPlane) -> Kubectl:
    return Kubectl(plane.kubectl, plane.kubeconfig, timeout=60)


@pytest.fixture(scope="module")
def gateway_crds(admin: Kubectl) -> None:
    """The Gateway API's CRDs Established, once for the module (two tests read them, neither changes
    them), without their descriptions as the clusters' harness applies them (addons.without_descriptions:
    the same schemas; nothing here reads a description), server-side through the API client. Each
    test applied the 0.73 MB with kubectl before (docs/design/test-harness.md, "The chart tier's planes")."""
    crds = addons.gateway_api_manifests(crds_only=True)
    admin.apply("", *[addons.without_descriptions(crd) for crd in crds])
    admin.wait_established(
        *(f"{crd}.gateway.networking.k8s.io" for crd in ("gatewayclasses", "gateways", "httproutes"))
    )


def apply(admin: Kubectl, objects: list[dict[str, Any]]) -> None:
    admin.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))


def rbac_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kinds = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding")
    return [o for o in objects if o["kind"] in kinds]


def built(binary: Path, builder_method: str) -> Path:
    """The cached binary (built on first use, as the cluster harness's ImageBuilder would)."""
    if not os.access(binary, os.X_OK):
        getattr(ImageBuilder(), builder_method)()
    return binary


class HostProcess:
    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def peers_of(pid: int) -> set[str]:
    """The remote addresses of the process's TCP and UDP sockets (ss), connected ones only."""
    out = subprocess.run(["ss", "-tunapH"], capture_output=True, text=True, check=True).stdout
    peers = set()
    for line in out.splitlines():
        fields = line.split()
        if f"pid={pid}," in line and len(fields) >= 6:
            host = fields[5].rpartition(":")[0].strip("[]")
            if host not in ("*", "0.0.0.0", "::"):
                peers.add(host)
    return peers


def assert_confined(pid: int) -> None:
    """Host processes talk to 127.0.0.0/8 only (the network confinement rule)."""
    peers = peers_of(pid)
    assert peers, "no connection seen: the check would pass vacuously"  # the API server at least
    assert all(p.startswith("127.") for p in peers), peers


# -- a minimal DNS client (no dig needed) ---------------------------------------------------------


def dns_query(port: int, name: str, qtype: int, tcp: bool = False, timeout: float = 5) -> tuple[int, list[bytes | str]]:
    """(rcode, answers): A records as 4 bytes, PTR records as names."""
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"
    query = struct.pack("!HHHHHH", 0x5A5A, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)
    if tcp:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(query)) + query)
            size = struct.unpack("!H", s.recv(2))[0]
            data = b""
            while len(data) < size:
                data += s.recv(size - len(data))
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(query, (LOOPBACK, port))
            data = s.recv(4096)
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
    pos = 12
    for _ in range(qd):
        _, pos = read_name(data, pos)
        pos += 4
    answers: list[bytes | str] = []
    for _ in range(an):
        _, pos = read_name(data, pos)
        rtype, _, _, rdlength = struct.unpack("!HHIH", data[pos : pos + 10])
        pos += 10
        rdata = data[pos : pos + rdlength]
        answers.append(rdata if rtype == 1 else read_name(data, pos)[0] if rtype == 12 else rdata)
        pos += rdlength
    return flags & 0xF, answers


def read_name(data: bytes, pos: int) -> tuple[str, int]:
    labels, end = [], None
    while data[pos]:
        if data[pos] & 0xC0 == 0xC0:  # compression pointer
            end = end or pos + 2
            pos = struct.unpack("!H", data[pos : pos + 2])[0] & 0x3FFF
            continue
        labels.append(data[pos + 1 : pos + 1 + data[pos]].decode())
        pos += 1 + data[pos]
    return ".".join(labels) + ".", end or pos + 1


NOERROR, NXDOMAIN = 0, 3


def test_coredns_binary_has_no_forwarding_plugin() -> None:
    """The confinement holds whatever a Corefile says: nothing that sends a query out is compiled in."""
    out = subprocess.run([str(built(coredns_bin(), "coredns")), "-plugins"], capture_output=True, text=True)
    plugins = {line.strip() for line in out.stdout.splitlines() if line.strip()}
    assert {"kubernetes", "template", "health", "ready"} <= plugins, out.stdout
    assert not plugins & {"forward", "grpc", "https", "etcd", "route53", "azure", "clouddns", "proxy"}, plugins


def test_coredns_resolves_services(plane: ControlPlane, admin: Kubectl, tmp_path: Path) -> None:
    objects = addons.coredns_manifests("unused", "10.96.0.10", "cluster.local")
    kubeconfig = plane.service_account_kubeconfig(tmp_path / "coredns.kubeconfig", "kube-system", "coredns",
                                                  rbac_of(objects))  # fmt: skip
    admin.kubectl("create", "namespace", "dns-test")
    admin.kubectl("-n", "dns-test", "create", "service", "clusterip", "cam-ingest", "--tcp=1935:1935")
    cluster_ip = admin.kubectl("-n", "dns-test", "get", "svc", "cam-ingest", "-o", "jsonpath={.spec.clusterIP}").stdout
    port, health, ready = free_port("udp"), free_port(), free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(
        addons.corefile(
            "cluster.local",
            [plane.service_cidr],
            port,
            health_port=health,
            ready_port=ready,
            bind=LOOPBACK,
            kubeconfig=str(kubeconfig),
        )
    )
    coredns = HostProcess([str(built(coredns_bin(), "coredns")), "-conf", str(corefile)], tmp_path / "coredns.log")
    try:
        eventually(lambda: _http_ok(f"http://{LOOPBACK}:{ready}/ready"), timeout=30, what="CoreDNS ready")
        name = "cam-ingest.dns-test.svc.cluster.local"
        eventually(lambda: _answers(port, name), timeout=20, what="CoreDNS answers over UDP")
        assert dns_query(port, name, 1) == (NOERROR, [socket.inet_aton(cluster_ip)])
        assert dns_query(port, name, 1, tcp=True) == (NOERROR, [socket.inet_aton(cluster_ip)])
        reverse = ".".join(reversed(cluster_ip.split("."))) + ".in-addr.arpa"
        assert dns_query(port, reverse, 12) == (NOERROR, [name + "."])
        assert dns_query(port, "missing.dns-test.svc.cluster.local", 1)[0] == NXDOMAIN
        # Anything else: NXDOMAIN at once, no upstream asked.
        assert dns_query(port, "example.com", 1) == (NXDOMAIN, [])
        assert dns_query(port, "1.2.0.192.in-addr.arpa", 12) == (NXDOMAIN, [])
        assert_confined(coredns.proc.pid)
    except BaseException:
        print(coredns.tail())
        raise
    finally:
        coredns.stop()


def _answers(port: int, name: str) -> bool:
    try:
        return dns_query(port, name, 1, timeout=1)[0] == NOERROR
    except OSError:
        return False


def _http_ok(url: str, host: str | None = None) -> bytes | None:
    import urllib.request

    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bytes(response.read()) or b"ok"
    except OSError:
        return None


class Backend(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"backend saw {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


# A cold cache builds Traefik from its module first (hack/build-traefik.sh): longer than the suite's
# 600 s per test on 2 busy cores.
@pytest.mark.timeout(2400)
@pytest.mark.usefixtures("gateway_crds")
def test_traefik_serves_ingress_and_accepts_gateway_routes(plane: ControlPlane, admin: Kubectl, tmp_path: Path) -> None:
    web, ping = free_port(), free_port()
    objects = addons.traefik_manifests("unused", node_port=30080, web_port=web)
    kubeconfig = plane.service_account_kubeconfig(
        tmp_path / "traefik.kubeconfig", "traefik", "traefik", rbac_of(objects)
    )
    apply(admin, [o for o in objects if o["kind"] in ("IngressClass", "GatewayClass", "Gateway")])

    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    backend_port = server.server_address[1]
    ns = "ingress-test"
    admin.kubectl("create", "namespace", ns)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "backend", "namespace": ns},
        # Endpoints may not be loopback addresses; an ExternalName that is an IP literal reaches
        # the backend on 127.0.0.1 without any DNS lookup.
        "spec": {"type": "ExternalName", "externalName": LOOPBACK, "ports": [{"name": "http", "port": backend_port}]},
    }
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "playback", "namespace": ns},
        "spec": {
            "ingressClassName": "traefik",
            "rules": [
                {
                    "host": "streams.test",
                    "http": {
                        "paths": [
                            {
                                "path": "/streams",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "backend", "port": {"number": backend_port}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "playback", "namespace": ns},
        "spec": {
            "parentRefs": [{"name": "traefik", "namespace": "traefik"}],
            "hostnames": ["routes.test"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/streams"}}],
                    "backendRefs": [{"name": "backend", "port": backend_port}],
                }
            ],
        },
    }
    apply(admin, [service, ingress, route])
    argv = [
        str(built(traefik_bin(), "traefik")),
        *addons.traefik_args(web, status_address=LOOPBACK, bind=LOOPBACK, ping_port=ping),
        # Only here, for the loopback backend; the cluster's Traefik keeps the default (off).
        "--providers.kubernetesingress.allowexternalnameservices=true",
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig)}
    traefik = HostProcess(argv, tmp_path / "traefik.log", env)
    try:
        eventually(lambda: _http_ok(f"http://{LOOPBACK}:{ping}/ping"), timeout=30, what="Traefik ping")
        got = eventually(lambda: _http_ok(f"http://{LOOPBACK}:{web}/streams/cam/index.m3u8", host="streams.test"),
                         timeout=30, what="the Ingress served")  # fmt: skip
        assert got == b"backend saw /streams/cam/index.m3u8"
        lb_ip = "{.status.loadBalancer.ingress[0].ip}"
        status = eventually(
            lambda: admin.kubectl("-n", ns, "get", "ingress", "playback", "-o", f"jsonpath={lb_ip}").stdout,
            timeout=30, what="Ingress status written by Traefik",
        )  # fmt: skip
        assert status == LOOPBACK

        def condition(kind: str, name: str, namespace: str | None, path: str) -> str:
            scope = ["-n", namespace] if namespace else []
            return admin.kubectl(*scope, "get", kind, name, "-o", f"jsonpath={path}", check=False).stdout

        accepted = '{.status.conditions[?(@.type=="Accepted")].status}'
        eventually(lambda: condition("gatewayclass", "traefik", None, accepted) == "True", timeout=30,
                   what="GatewayClass Accepted")  # fmt: skip
        programmed = '{.status.conditions[?(@.type=="Programmed")].status}'
        eventually(lambda: condition("gateway", "traefik", "traefik", programmed) == "True", timeout=30,
                   what="Gateway Programmed")  # fmt: skip
        route_accepted = '{.status.parents[0].conditions[?(@.type=="Accepted")].status}'
        eventually(lambda: condition("httproute", "playback", ns, route_accepted) == "True", timeout=30,
                   what="HTTPRoute Accepted")  # fmt: skip
        assert_confined(traefik.proc.pid)
        assert "permission" not in traefik.tail().lower() and "forbidden" not in traefik.tail().lower(), traefik.tail()
    except BaseException:
        print(traefik.tail())  # shown by pytest with the failure
        raise
    finally:
        traefik.stop()
        server.shutdown()


def test_gateway_api_pin_follows_traefik() -> None:
    """hack/versions.sh pins the Gateway API CRDs to the version Traefik's go.mod requires: the
    API its kubernetesGateway provider speaks. Bump them together."""
    traefik = f"github.com/traefik/traefik/v3@{sourced('TRAEFIK_VERSION')}"
    out = subprocess.run(["go", "mod", "download", "-json", traefik], capture_output=True, text=True,
                         env={**os.environ, "GOFLAGS": ""}, check=True)  # fmt: skip
    gomod = Path(json.loads(out.stdout)["GoMod"]).read_text()
    required = re.search(r"^\s*sigs\.k8s\.io/gateway-api (v\S+)", gomod, re.M)
    assert required, "Traefik's go.mod no longer requires sigs.k8s.io/gateway-api"
    assert sourced("GATEWAY_API_VERSION") == required.group(1)


@pytest.mark.usefixtures("gateway_crds")
def test_addon_objects_pass_the_api_server_and_pod_security_restricted(plane: ControlPlane, admin: Kubectl) -> None:
    """Every object is valid for the API server (server-side dry run: a fixed clusterIP in the
    service range, the nodePort, the Gateway API objects against their CRDs), and each Pod template
    is admitted by PodSecurity `restricted` (enforced on a Pod built from it)."""
    dns_ip = str(ipaddress.ip_network(plane.service_cidr)[10])
    coredns = addons.coredns_manifests("streamops-coredns:x", dns_ip, reverse_cidrs=[plane.service_cidr])
    traefik = addons.traefik_manifests("streamops-traefik:x", node_port=30080)
    # The traefik Namespace must exist for a dry run of what lives in it.
    apply(admin, [o for o in traefik if o["kind"] == "Namespace"])
    for objects in (coredns, traefik):
        listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        admin.kubectl("apply", "--dry-run=server", "-f", "-", input=listed)

    admin.kubectl("create", "namespace", "psa-restricted")
    admin.kubectl("label", "namespace", "psa-restricted", "pod-security.kubernetes.io/enforce=restricted")
    for deployment in [o for o in coredns + traefik if o["kind"] in ("Deployment", "DaemonSet")]:
        spec = dict(deployment["spec"]["template"]["spec"])
        # Not PodSecurity's business: the priority class is kube-system's, the account absent here.
        spec.pop("priorityClassName", None)
        spec.pop("serviceAccountName", None)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": deployment["metadata"]["name"]}, "spec": spec}
        result = admin.kubectl("-n", "psa-restricted", "create", "--dry-run=server", "-f", "-",
                               input=json.dumps(pod), check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "violate" not in result.stderr, result.stderr
        # The same Pod without its securityContexts is refused: the check above is not vacuous.
        bare = {**spec, "securityContext": {}, "containers": [
            {k: v for k, v in c.items() if k != "securityContext"} for c in spec["containers"]
        ]}  # fmt: skip
        refused = admin.kubectl("-n", "psa-restricted", "create", "--dry-run=server", "-f", "-",
                                input=json.dumps({**pod, "spec": bare}), check=False)  # fmt: skip
        assert refused.returncode != 0 and "restricted" in refused.stderr, refused.stderr


def test_real_addons_objects_pass_the_api_server_and_pod_security_restricted(
    plane: ControlPlane, admin: Kubectl
) -> None:
    """The same for the multi-node tier's metrics-server and Prometheus Operator (issue 38): their
    objects pass a server-side dry run, their Pods PodSecurity `restricted`. (cert-manager's Pods are
    its chart's own.)"""
    ca = (plane.pki / "ca.crt").read_text()
    ms = metrics_server.metrics_server_manifests("streamops-metrics-server:x", serving=(ca, "k"),
                                                 kubelet_client=(ca, "k"), ca=ca)  # fmt: skip
    po = prometheus_operator.operator_manifests("streamops-prometheus-operator:x", "reloader:x", [])
    apply(admin, [o for o in po if o["kind"] == "Namespace"])
    for objects in (ms, po):
        listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        admin.kubectl("apply", "--dry-run=server", "-f", "-", input=listed)
    admin.kubectl("create", "namespace", "psa-restricted-addons")
    admin.kubectl("label", "namespace", "psa-restricted-addons", "pod-security.kubernetes.io/enforce=restricted")
    for deployment in [o for o in ms + po if o["kind"] == "Deployment"]:
        spec = dict(deployment["spec"]["template"]["spec"])
        spec.pop("priorityClassName", None)
        spec.pop("serviceAccountName", None)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": deployment["metadata"]["name"]}, "spec": spec}
        result = admin.kubectl("-n", "psa-restricted-addons", "create", "--dry-run=server", "-f", "-",
                               input=json.dumps(pod), check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "violate" not in result.stderr, result.stderr

"""Ready waits for the ingest Service to route to its Pod (docs/design/exposure.md, "When Ready turns
True"), against the real EndpointSlice controller of kube-controller-manager.

No kubelet runs here: the test sets the ingest Pods' status (Running, Ready, a Pod IP) as a kubelet
would, and the EndpointSlice controller builds the Services' slices from them. It lists a Pod only
once it knows the Pod's Node: while the Pods are bound to no Node it leaves them out (and retries
the Service), which is the lag a publisher meets after `kubectl wait --for=condition=Ready` on the
old rule. Binding a Pod to a Node lets the controller's next retry add its ready endpoint.

The suite's operator runs workers on the host network (devtools.cluster.suite); a LoadBalancer
Service with an address (written here, as a cloud controller would) puts a Service in the
publishers' way, as every exposure but HostNetwork does. The Pod IP is a documentation address
(TEST-NET-1): an EndpointSlice refuses loopback, and nothing here sends to it (the operator reads a
hostNetwork worker at its bind address, 127.0.0.1; no kube-proxy runs).
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import set_pod_status
from devtools.waits import eventually

POD_IP = "192.0.2.10"  # TEST-NET-1 (RFC 5737): never routed, only listed
LB_IP = "198.51.100.9"  # TEST-NET-2: the load balancer's address as its controller would write it
SERVICES = {"primary": "cam-ingest", "backup": "cam-ingest-backup"}


def ready_endpoints(cluster: Any, ns: str, service: str, pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The Pod's ready endpoints in the Service's EndpointSlices (read from the API server)."""
    slices = cluster.list("endpointslices", ns, f"kubernetes.io/service-name={service}")
    return [
        e
        for s in slices
        for e in s.get("endpoints") or []
        if (e.get("targetRef") or {}).get("uid") == pod["metadata"]["uid"]
        and POD_IP in e.get("addresses", [])
        and (e.get("conditions") or {}).get("ready") is not False
    ]


def bind(cluster: Any, ns: str, pod: str, node: str) -> None:
    """What the scheduler does: the Pod bound to the Node."""
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod}}
    binding["target"] = {"apiVersion": "v1", "kind": "Node", "name": node}
    cluster.core.create_namespaced_pod_binding(pod, ns, binding, _preload_content=False)


def conditions(cluster: Any, ns: str) -> dict[str, tuple[str, str]]:
    s = cluster.get("livestreams", ns, "cam") or {}
    return {c["type"]: (c["status"], c["reason"]) for c in (s.get("status") or {}).get("conditions") or []}


def test_ready_waits_until_the_services_endpoint_slice_has_the_pod_ready(cluster, operator, namespace):
    ns, node = namespace, f"node-{namespace}"
    # (WebRTC off: its component announces the load balancer's address, so the primary Pod would be
    # rolled at the next resync once the address is there.)
    spec = {"source": {"push": {"backup": True}}, "ingest": {"service": {"type": "LoadBalancer"}}}
    cluster.apply(ns, livestream("cam", playback={"webrtc": {"enabled": False}}, **spec))
    for service in SERVICES.values():
        eventually(lambda service=service: cluster.get("services", ns, service), what=f"Service {service}")
        cluster.core.patch_namespaced_service_status(
            service, ns, {"status": {"loadBalancer": {"ingress": [{"ip": LB_IP}]}}},
            _content_type="application/merge-patch+json",
        )  # fmt: skip
    eventually(
        lambda: (
            (cluster.get("livestreams", ns, "cam") or {}).get("status", {}).get("ingest", {}).get("exposure")
            == "LoadBalancer"
        ),
        what="publishers pushing through the load balancer",
    )
    pods = {
        role: eventually(lambda name=name: cluster.get("pods", ns, name), what=f"Pod {name}")
        for role, name in SERVICES.items()
    }
    for pod in pods.values():
        probe = pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]
        assert pod["spec"]["hostNetwork"] is True and probe["host"] == "127.0.0.1", "the operator reads it there"
        assert not pod["spec"].get("nodeName")
        # As a kubelet says it: running, its readiness probe passing, its address.
        set_pod_status(cluster, ns, pod["metadata"]["name"], "Running", ready=True, ip=POD_IP)

    # The Pods are ready; their Services' slices have no endpoint for them: not Ready, and says why.
    eventually(
        lambda: (
            conditions(cluster, ns).get("Ready") == ("False", "IngestEndpointPending")
            and conditions(cluster, ns).get("BackupReady") == ("False", "IngestEndpointPending")
        ),
        what="Ready and BackupReady False: IngestEndpointPending",
    )
    stream = cluster.get("livestreams", ns, "cam")
    assert "Service cam-ingest does not route to it yet" in condition(stream, "Ready")["message"]
    assert condition(stream, "Reconciling")["status"] == "True"
    waiting = subprocess.Popen(  # what a script does before it pushes
        [cluster.binary, "--kubeconfig", str(cluster.kubeconfig), "wait", "lst/cam", "-n", ns,
         "--for=condition=Ready", "--timeout=90s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        until = time.monotonic() + 3
        while time.monotonic() < until:  # it holds while the slices lack the endpoint
            assert not ready_endpoints(cluster, ns, SERVICES["primary"], pods["primary"])
            assert conditions(cluster, ns)["Ready"] == ("False", "IngestEndpointPending")
            assert waiting.poll() is None, "kubectl wait returned before the Service routes to the Pod"
            time.sleep(0.3)

        # The Node appears and the primary is bound to it: the controller's next retry lists it ready.
        cluster.core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
        bind(cluster, ns, SERVICES["primary"], node)
        _, err = waiting.communicate(timeout=90)
        assert waiting.returncode == 0, err
        # When `kubectl wait` returned, the slice had the Pod's ready endpoint already.
        assert ready_endpoints(cluster, ns, SERVICES["primary"], pods["primary"]), "Ready before the endpoint"
        seen = conditions(cluster, ns)
        assert seen["Ready"] == ("True", "IngestRunning") and "Reconciling" not in seen
        # The backup, still unbound: its own Service does not route to it, and BackupReady says so.
        assert not ready_endpoints(cluster, ns, SERVICES["backup"], pods["backup"])
        assert seen["BackupReady"] == ("False", "IngestEndpointPending")

        bind(cluster, ns, SERVICES["backup"], node)
        eventually(
            lambda: conditions(cluster, ns).get("BackupReady") == ("True", "IngestRunning"),
            timeout=90,
            what="BackupReady once the backup's slice lists it ready",
        )
        assert ready_endpoints(cluster, ns, SERVICES["backup"], pods["backup"])
        stream = cluster.get("livestreams", ns, "cam")
        assert "Service cam-ingest has a ready endpoint" in condition(stream, "Ready")["message"]
        assert cluster.events(ns, "LiveStream", "cam", "IngestRunning"), "Ready turning True is an Event"

        # The Pod's readiness lost: the slice's endpoint turns not ready, and Ready follows the Pod.
        set_pod_status(cluster, ns, SERVICES["primary"], "Running", ready=False, ip=POD_IP)
        eventually(
            lambda: conditions(cluster, ns).get("Ready") == ("False", "IngestStarting"),
            what="Ready False with the Pod",
        )
        set_pod_status(cluster, ns, SERVICES["primary"], "Running", ready=True, ip=POD_IP)
        eventually(
            lambda: (
                conditions(cluster, ns).get("Ready") == ("True", "IngestRunning")
                and ready_endpoints(cluster, ns, SERVICES["primary"], pods["primary"])
            ),
            what="Ready True again, with the endpoint",
        )
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
        cluster.delete("node", "", node, missing_ok=True)


def test_the_slices_carry_the_services_labels_so_the_watch_selects_them_server_side(cluster, operator, namespace):
    """What the operator's watch of EndpointSlices relies on (handlers.py): the EndpointSlice
    controller copies the Service's labels onto its slices, so `app.kubernetes.io/managed-by=streamops`
    selects them on the API server."""
    cluster.apply(namespace, livestream("cam"))
    wanted = {"cam-ingest", "cam-ingest-internal"}

    def selected() -> list[dict[str, Any]] | None:
        # Both Services' slices: the controller makes them moments apart (CI, 2026-11-27: the first
        # list held only the public one's).
        found = cluster.list("endpointslices", namespace, "app.kubernetes.io/managed-by=streamops")
        return found if {s["metadata"]["labels"]["kubernetes.io/service-name"] for s in found} == wanted else None

    slices = eventually(selected, what="both Services' slices selected by the managed-by label")
    public = next(s for s in slices if s["metadata"]["labels"]["kubernetes.io/service-name"] == "cam-ingest")
    assert public["metadata"]["labels"]["app.kubernetes.io/component"] == "ingest"

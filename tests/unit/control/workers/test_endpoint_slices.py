"""Ready waits for the ingest Service to route to the Pod (docs/design/exposure.md, "When Ready turns
True"): the Pod's readiness reaches publishers only once the Service's EndpointSlice lists it ready
(kube-proxy and load balancers follow the slice). Pure functions: the slice index entry, the match
of a Pod against the slices, and the status function's decision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devtools.catalog import stored_livestream
from streamops.control.livestream import reasons
from streamops.control.livestream.exposure import ServiceObservation
from streamops.control.livestream.status import (
    EndpointObservation,
    IngestObservation,
    PodObservation,
    livestream_events,
    livestream_status,
)
from streamops.control.shared.settings import IngestSettings, OperatorSettings, WorkerSettings
from streamops.control.workers.endpoint_slices import SliceEndpoint, SliceFacts, endpoint_slice_entry, observe_endpoint
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
IP = "10.244.1.7"


def pod_body(
    name: str = "cam-ingest", uid: str = "pod-1", ready: bool = True, ip: str | None = IP, host_network: bool = False
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": "Running",
        "hostIP": "192.0.2.4",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    container: dict[str, Any] = {"name": "ingest", "ports": [{"name": "internal", "containerPort": 8081}]}
    if host_network:
        container["readinessProbe"] = {"httpGet": {"host": "127.0.0.1", "port": 8081}}
    return {
        "metadata": {"name": name, "uid": uid},
        "spec": {"nodeName": "n1", "hostNetwork": host_network, "containers": [container]},
        "status": status,
    }


def running(name: str = "cam-ingest", **kw: Any) -> PodObservation:
    return PodObservation.of(name, pod_body(name, **kw))


def slice_body(
    service: str = "cam-ingest",
    component: str = "ingest",
    endpoints: list[dict[str, Any]] | None = None,
    name: str = "cam-ingest-abcde",
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "media",
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                "app.kubernetes.io/managed-by": "streamops",
                "app.kubernetes.io/component": component,
            },
        },
        "addressType": "IPv4",
        "endpoints": endpoints or [],
    }


def endpoint(ip: str = IP, ready: bool | None = True, uid: str = "pod-1", name: str = "cam-ingest") -> dict[str, Any]:
    e: dict[str, Any] = {"addresses": [ip], "targetRef": {"kind": "Pod", "namespace": "media", "name": name}}
    if uid:
        e["targetRef"]["uid"] = uid
    if ready is not None:
        e["conditions"] = {"ready": ready, "serving": ready, "terminating": False}
    return e


def facts(*endpoints: dict[str, Any], service: str = "cam-ingest") -> list[SliceFacts]:
    return list(endpoint_slice_entry(slice_body(service, endpoints=list(endpoints))).values())


# --- the index entry and the match ------------------------------------------------------------------


def test_the_index_keeps_the_public_ingest_services_slices_by_service():
    entry = endpoint_slice_entry(slice_body(endpoints=[endpoint()]))
    assert entry == {
        ("media", "cam-ingest"): SliceFacts("cam-ingest-abcde", (SliceEndpoint((IP,), True, "pod-1", "cam-ingest"),))
    }
    backup = slice_body("cam-ingest-backup", "ingest-backup", [endpoint(name="cam-ingest-backup")])
    assert list(endpoint_slice_entry(backup)) == [("media", "cam-ingest-backup")]
    # The internal Services (no publisher uses them) and other Services of streamops (the edge's): none.
    assert endpoint_slice_entry(slice_body("cam-ingest-internal", endpoints=[endpoint()])) == {}
    assert endpoint_slice_entry(slice_body("streamops-edge", "edge", [endpoint()])) == {}
    # An empty slice (the Service has no endpoint yet) is kept: it says so.
    assert endpoint_slice_entry(slice_body()) == {("media", "cam-ingest"): SliceFacts("cam-ingest-abcde")}


def test_an_endpoint_without_a_ready_condition_counts_as_ready_as_kube_proxy_reads_it():
    [entry] = endpoint_slice_entry(slice_body(endpoints=[endpoint(ready=None)])).values()
    assert entry.endpoints[0].ready is True
    [entry] = endpoint_slice_entry(slice_body(endpoints=[endpoint(ready=False)])).values()
    assert entry.endpoints[0].ready is False


def test_the_pod_is_served_by_a_ready_endpoint_with_its_uid_and_ip():
    pod = running()
    assert observe_endpoint("cam-ingest", facts(endpoint()), pod) == EndpointObservation("cam-ingest", True, True)
    # Listed but not ready (its readiness did not reach the slice yet, or it is terminating).
    assert observe_endpoint("cam-ingest", facts(endpoint(ready=False)), pod) == EndpointObservation(
        "cam-ingest", False, True
    )
    # No slice, an empty slice.
    assert observe_endpoint("cam-ingest", [], pod) == EndpointObservation("cam-ingest")
    assert observe_endpoint("cam-ingest", facts(), pod) == EndpointObservation("cam-ingest")
    # The Pod it replaces (same name, another uid) still in the slice: not this Pod.
    assert not observe_endpoint("cam-ingest", facts(endpoint(uid="pod-0")), pod).served
    # Another address: not this Pod's endpoint (an IP the slice has not caught up with).
    assert not observe_endpoint("cam-ingest", facts(endpoint(ip="10.244.9.9")), pod).served
    # A slice that names the Pod without its uid: by name.
    assert observe_endpoint("cam-ingest", facts(endpoint(uid="")), pod).served
    # Dual stack: one slice per family, the Pod's IPv4 endpoint ready in one of them.
    v6 = facts(endpoint(ip="fd00::7", ready=False))
    assert observe_endpoint("cam-ingest", [*v6, *facts(endpoint())], pod).served


def test_no_pod_or_no_pod_ip_is_never_served():
    assert not observe_endpoint("cam-ingest", facts(endpoint()), None).served
    assert not observe_endpoint("cam-ingest", facts(endpoint()), PodObservation("cam-ingest")).served
    assert not observe_endpoint("cam-ingest", facts(endpoint()), running(ip=None)).served


def test_a_host_network_pod_is_reached_at_its_bind_address_and_listed_by_its_pod_ip():
    pod = running(host_network=True, ip="192.0.2.4")
    assert pod.ip == "127.0.0.1", "the operator reads its /status where the worker binds"
    assert pod.pod_ips == ("192.0.2.4",), "its Services' slices list it by status.podIPs"
    assert observe_endpoint("cam-ingest", facts(endpoint(ip="192.0.2.4")), pod).served
    only_pod_ip = pod_body()
    del only_pod_ip["status"]["podIPs"]
    assert PodObservation.of("cam-ingest", only_pod_ip).pod_ips == (IP,)


# --- the status function ----------------------------------------------------------------------------


def conditions(status: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_a_ready_pod_is_not_ready_until_its_service_has_a_ready_endpoint_for_it():
    s = stored_livestream()
    pending = livestream_status(s, IngestObservation({"primary": running()}), T0)
    assert conditions(pending)["Ready"] == ("False", reasons.INGEST_ENDPOINT_PENDING)
    assert conditions(pending)["Reconciling"] == ("True", reasons.INGEST_ENDPOINT_PENDING), "kstatus: InProgress"
    message = pending.condition("Ready").message
    assert "cam-ingest accepts publishers" in message and "Service cam-ingest does not route to it yet" in message
    assert "have no endpoint for it yet" in message
    listed = IngestObservation(
        {"primary": running()}, endpoints={"primary": EndpointObservation("cam-ingest", served=False, listed=True)}
    )
    assert "lists it as not ready" in livestream_status(s, listed, T0).condition("Ready").message
    served = IngestObservation(
        {"primary": running()}, endpoints={"primary": EndpointObservation("cam-ingest", served=True, listed=True)}
    )
    ready = livestream_status(s.model_copy(update={"status": pending}), served, T0)
    assert conditions(ready)["Ready"] == ("True", reasons.INGEST_RUNNING) and "Reconciling" not in conditions(ready)
    assert "Service cam-ingest has a ready endpoint" in ready.condition("Ready").message
    # The first look at a stream still waiting says nothing; Ready turning True is an Event.
    assert livestream_events(None, pending) == []
    assert [(e.type, e.reason) for e in livestream_events(pending, ready)] == [("Normal", reasons.INGEST_RUNNING)]


def test_a_pod_not_ready_says_so_whatever_its_endpoint():
    # The Pod's own state comes first: an endpoint that lingers for a Pod gone unready changes nothing.
    served = {"primary": EndpointObservation("cam-ingest", served=True)}
    status = livestream_status(
        stored_livestream(), IngestObservation({"primary": running(ready=False)}, endpoints=served), T0
    )
    assert conditions(status)["Ready"] == ("False", reasons.INGEST_STARTING)


def test_every_service_exposure_waits_for_the_endpoint():
    nodeport = {
        "type": "NodePort",
        "ports": [{"name": n, "port": p, "nodePort": 30000 + p % 1000} for n, p in POD_NETWORK_PORTS.items()],
    }
    lb = {**nodeport, "type": "LoadBalancer"}
    for spec, status_lb in ((nodeport, {}), (lb, {"ingress": [{"ip": "198.51.100.9"}]})):
        body = {"metadata": {"name": "cam-ingest"}, "spec": spec, "status": {"loadBalancer": status_lb}}
        observed = IngestObservation(
            {"primary": running()},
            services={"primary": ServiceObservation.of(body)},  # type: ignore[dict-item]
            settings=OperatorSettings(ingest=IngestSettings(external_host="203.0.113.7")),
        )
        status = livestream_status(stored_livestream(), observed, T0)
        assert status.ingest.exposure in ("NodePort", "LoadBalancer")
        assert conditions(status)["Ready"] == ("False", reasons.INGEST_ENDPOINT_PENDING), spec["type"]


def test_a_host_network_ingest_reached_at_its_host_ports_keeps_the_pod_rule():
    # worker.hostNetwork: publishers push to the node's address and the Pod's host ports; no Service
    # (nor EndpointSlice, nor kube-proxy) is in their way.
    ports = {"http": 30080, "internal": 30081, "rtmp": 31935, "srt": 31998}
    observed = IngestObservation({"primary": running(host_network=True, ip="192.0.2.4")}, host_ports={"primary": ports})
    status = livestream_status(stored_livestream(), observed, T0)
    assert status.ingest.exposure == "HostNetwork"
    assert conditions(status)["Ready"] == ("True", reasons.INGEST_RUNNING)
    assert status.condition("Ready").message == "ingest Pod cam-ingest accepts publishers"
    # The operator's worker address override with host networking: the same.
    override = IngestObservation(
        {"primary": running(host_network=True)},
        host_ports={"primary": ports},
        settings=OperatorSettings(worker=WorkerSettings(address="127.0.0.1")),
    )
    assert conditions(livestream_status(stored_livestream(), override, T0))["Ready"] == ("True", reasons.INGEST_RUNNING)


def test_a_host_network_ingest_behind_a_node_port_waits_for_the_endpoint():
    # Host networking, but the stream's Service is a NodePort with the nodes' external host: publishers
    # push to the nodePort, which kube-proxy routes by the slice.
    ports = {"http": 30080, "internal": 30081, "rtmp": 31935, "srt": 31998}
    spec = {"type": "NodePort", "ports": [{"name": "rtmp", "port": 31935, "nodePort": 32100}]}
    observed = IngestObservation(
        {"primary": running(host_network=True, ip="192.0.2.4")},
        host_ports={"primary": ports},
        services={"primary": ServiceObservation.of({"metadata": {"name": "cam-ingest"}, "spec": spec})},  # type: ignore[dict-item]
        settings=OperatorSettings(ingest=IngestSettings(external_host="203.0.113.7")),
    )
    status = livestream_status(stored_livestream(), observed, T0)
    assert status.ingest.exposure == "NodePort"
    assert conditions(status)["Ready"] == ("False", reasons.INGEST_ENDPOINT_PENDING)


BACKUP = {"push": {"backup": True}}


def test_the_backup_has_its_own_ready_condition_through_its_own_service():
    s = stored_livestream(source=BACKUP)
    pods = {"primary": running(), "backup": running("cam-ingest-backup", uid="pod-2")}
    primary_served = {"primary": EndpointObservation("cam-ingest", served=True)}
    status = livestream_status(s, IngestObservation(pods, endpoints=primary_served), T0)
    # The stream plays, records and restreams from its primary: Ready; the backup's push would be refused.
    assert conditions(status)["Ready"] == ("True", reasons.INGEST_RUNNING)
    assert conditions(status)["BackupReady"] == ("False", reasons.INGEST_ENDPOINT_PENDING)
    assert "Reconciling" not in conditions(status)
    assert "Service cam-ingest-backup does not route" in status.condition("BackupReady").message
    both = {**primary_served, "backup": EndpointObservation("cam-ingest-backup", served=True)}
    status = livestream_status(s, IngestObservation(pods, endpoints=both), T0)
    assert conditions(status)["BackupReady"] == ("True", reasons.INGEST_RUNNING)
    assert "backup ingest Pod cam-ingest-backup accepts publishers" in status.condition("BackupReady").message
    # Its Pod on its way: said as Ready says the primary's.
    starting = livestream_status(s, IngestObservation({"primary": running()}, endpoints=primary_served), T0)
    assert conditions(starting)["BackupReady"] == ("False", reasons.INGEST_STARTING)
    assert "creating backup ingest Pod cam-ingest-backup" in starting.condition("BackupReady").message


def test_backup_ready_says_what_ready_says_when_no_ingest_runs_and_is_absent_without_a_backup():
    off = livestream_status(stored_livestream(active=False, source=BACKUP), IngestObservation({}), T0)
    assert conditions(off)["BackupReady"] == conditions(off)["Ready"] == ("True", reasons.INACTIVE)
    missing = livestream_status(
        stored_livestream(source={"push": {"backup": True, "streamKeySecretRef": {"name": "gone"}}}),
        IngestObservation({}, key_secret_missing="gone"),
        T0,
    )
    assert conditions(missing)["BackupReady"] == ("False", reasons.STREAM_KEY_SECRET_NOT_FOUND)
    assert "BackupReady" not in conditions(livestream_status(stored_livestream(), IngestObservation({}), T0))

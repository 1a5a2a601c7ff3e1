"""Whether an ingest Service routes to its Pod yet: the Service's EndpointSlices as the operator's
index keeps them, and the pure match of one Pod against them (docs/design/exposure.md, "When Ready
turns True").

A Pod's readiness reaches the Service in steps: the kubelet sets the Pod's Ready condition, the
EndpointSlice controller (kube-controller-manager) marks the Pod's endpoint ready in the Service's
EndpointSlices, then kube-proxy on each node (and a load balancer's controller) programs the route.
A publisher that connects between the first step and the last is refused. The operator sees the
second step (the slices, from a watch), not the third (node-local).

The EndpointSlice controller copies the Service's labels onto its slices (all but its own
`kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`), so the operator's watch
of them asks the API server for `app.kubernetes.io/managed-by=streamops` only (handlers.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streamops.control.workers.ingest_address import INTERNAL_SERVICE_SUFFIX, ingest_component
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.manifests import Body
from streamops.kube.naming import COMPONENT_LABEL

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # set by the EndpointSlice controller: the slice's Service
INGEST_COMPONENTS = frozenset(ingest_component(role) for role in ("primary", "backup"))
INTERNAL_SUFFIX = f"-{INTERNAL_SERVICE_SUFFIX}"  # an ingest's internal Service: no publisher uses it

ServiceRef = tuple[str, str]  # namespace, Service name


@dataclass(frozen=True)
class SliceEndpoint:
    """One endpoint of a slice, as much as the match needs."""

    addresses: tuple[str, ...]
    ready: bool  # conditions.ready; unset counts as ready, as kube-proxy reads it
    pod_uid: str = ""  # targetRef (kind Pod)
    pod_name: str = ""


@dataclass(frozen=True)
class SliceFacts:
    """An EndpointSlice of an ingest Service (the index keeps this, not the slice)."""

    name: str
    endpoints: tuple[SliceEndpoint, ...] = ()


EndpointSliceIndex = Mapping[ServiceRef, Iterable[SliceFacts]]  # by (namespace, Service name)


def endpoint_slice_entry(body: Body) -> dict[ServiceRef, SliceFacts]:
    """The index entry of a slice of a stream's public ingest Service (primary or backup); none for
    the internal Services' slices and any other Service of streamops (the edge's)."""
    meta = body.get("metadata") or {}
    labels = meta.get("labels") or {}
    service = str(labels.get(SERVICE_NAME_LABEL) or "")
    if not service or labels.get(COMPONENT_LABEL) not in INGEST_COMPONENTS or service.endswith(INTERNAL_SUFFIX):
        return {}
    endpoints = []
    for endpoint in body.get("endpoints") or []:
        if not isinstance(endpoint, Mapping):
            continue
        ref = endpoint.get("targetRef") or {}
        pod = ref.get("kind") == "Pod"
        endpoints.append(
            SliceEndpoint(
                addresses=tuple(str(a) for a in endpoint.get("addresses") or []),
                ready=(endpoint.get("conditions") or {}).get("ready") is not False,
                pod_uid=str(ref.get("uid") or "") if pod else "",
                pod_name=str(ref.get("name") or "") if pod else "",
            )
        )
    return {(str(meta.get("namespace") or ""), service): SliceFacts(str(meta.get("name") or ""), tuple(endpoints))}


@dataclass(frozen=True)
class EndpointObservation:
    """An ingest Pod as its Service's EndpointSlices list it: `served` when one of them has a ready
    endpoint for it (its uid, or its name where the slice names no uid, and one of its IPs) — what
    kube-proxy and load balancers route publishers to; `listed` when an endpoint for it is there but
    not ready."""

    service: str
    served: bool = False
    listed: bool = False


def _is_the_pod(endpoint: SliceEndpoint, pod: PodObservation) -> bool:
    same = endpoint.pod_uid == pod.uid if endpoint.pod_uid and pod.uid else endpoint.pod_name == pod.name
    return same and bool(set(endpoint.addresses) & set(pod.pod_ips))


def observe_endpoint(service: str, slices: Iterable[SliceFacts], pod: PodObservation | None) -> EndpointObservation:
    """The Pod (None: there is none) against the slices of its Service `service`."""
    if pod is None or not pod.exists or not pod.pod_ips:
        return EndpointObservation(service)
    mine = [e for s in slices for e in s.endpoints if _is_the_pod(e, pod)]
    return EndpointObservation(service, served=any(e.ready for e in mine), listed=bool(mine))

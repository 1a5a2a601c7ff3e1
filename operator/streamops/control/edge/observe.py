"""Reads only, each once: the namespace's primary ingest Services that record a stream wanting the edge
(one LIST) and those streams (from the operator's LiveStream index: a deleted stream's Service is
there until the garbage collector takes it, its stream is not), then the edge's Deployment, and while
a stream wants it its Service (from the operator's Service index), autoscaler and routes ConfigMap, and
the PlaybackPolicies its streams name (from the operator's index of policies)."""

from __future__ import annotations

from urllib.parse import urlencode

from streamops.api import LIVESTREAM
from streamops.api.common import LocalObjectRef
from streamops.api.playback_policy import PlaybackRules
from streamops.contract.edge import EDGE_NAME
from streamops.control.edge.observation import EdgeObserved, EdgeStream
from streamops.control.shared.playback_policy_reads import read_named_policy
from streamops.kube.manifests import Manifest
from streamops.kube.naming import COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from streamops.kube.reads import KubeReads

# The primary ingest Services (and the internal ones, which share the component and record nothing).
INGEST_SERVICES = urlencode({"labelSelector": f"{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}=ingest"})


def _stream(api: KubeReads, namespace: str, stream: EdgeStream) -> Manifest | None:
    found = api.get_custom(LIVESTREAM, namespace, stream.name)
    return found if found is not None and found["metadata"].get("uid") == stream.uid else None


def _rules(api: KubeReads, namespace: str, streams: list[Manifest]) -> dict[str, PlaybackRules | None]:
    """The rules of the policy each stream names (streams naming none left out)."""
    out: dict[str, PlaybackRules | None] = {}
    for body in streams:
        name = (((body.get("spec") or {}).get("playback") or {}).get("policyRef") or {}).get("name")
        if isinstance(name, str) and name:
            out[body["metadata"]["name"]] = read_named_policy(api, namespace, LocalObjectRef(name=name)).rules
    return out


def observe_edge(api: KubeReads, namespace: str) -> EdgeObserved:
    found = (EdgeStream.of(s) for s in api.list_in("Service", namespace, INGEST_SERVICES))
    read = [(s, _stream(api, namespace, s)) for s in found if s is not None]
    streams = tuple(sorted(s for s, body in read if body is not None))
    deployment = api.get("Deployment", namespace, EDGE_NAME)
    if not streams:
        return EdgeObserved(namespace, streams, deployment)
    return EdgeObserved(
        namespace,
        streams,
        deployment,
        service=api.get("Service", namespace, EDGE_NAME),
        autoscaler=api.get("HorizontalPodAutoscaler", namespace, EDGE_NAME),
        routes=api.get("ConfigMap", namespace, EDGE_NAME),
        rules=_rules(api, namespace, [body for _, body in read if body is not None]),
    )

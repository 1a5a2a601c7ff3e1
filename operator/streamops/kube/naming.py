"""Names, labels and owner references of the objects the operator creates."""

from __future__ import annotations

import hashlib
import re

from streamops.api.common import API_VERSION, GROUP
from streamops.kube.manifests import Body, Manifest

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "streamops"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
INSTANCE_LABEL = "app.kubernetes.io/instance"
STREAM_LABEL = f"{GROUP}/stream"
SPEC_HASH_ANNOTATION = f"{GROUP}/spec-hash"
STREAM_NAME_ANNOTATION = f"{GROUP}/stream-name"
HOST_PORTS_ANNOTATION = f"{GROUP}/host-ports"
# The annotation keys the operator set on a child (JSON list): a key dropped from the spec is removed.
MANAGED_ANNOTATIONS_ANNOTATION = f"{GROUP}/managed-annotations"
PLAYBACK_ROUTE_ANNOTATION = f"{GROUP}/playback-route"  # on the ingest Service: the stream's route kind
# On a primary ingest Service: its stream is an owner of the namespace's edge (livestream/edge.py), so
# a stream that stops wanting the edge is taken off without reading the edge at every reconcile.
EDGE_OWNER_ANNOTATION = f"{GROUP}/edge-owner"
# On a primary ingest Service: the LoadBalancer regions whose Services the stream has (JSON list), so
# that a region the operator no longer lists has its Service deleted (docs/design/exposure.md).
INGEST_REGIONS_ANNOTATION = f"{GROUP}/ingest-regions"
ADOPTED_ANNOTATION = f"{GROUP}/adopted-by"  # a standby recorder taken over by this Recording
RESTARTS_ANNOTATION = f"{GROUP}/restarts"  # on an owner: "immediate" applies a pending restart now
IMMEDIATE = "immediate"  # (control/workers/restarts.py)
RECORDING_LABEL = f"{GROUP}/recording"
RESTREAM_LABEL = f"{GROUP}/restream"
HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"  # the well-known node label: one node per value

_DNS_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def child_name(owner: str, suffix: str) -> str:
    """`<owner>-<suffix>`, or a hashed form when that is not a valid Service name (DNS-1035, ≤63)."""
    name = f"{owner}-{suffix}"
    if len(name) <= 63 and _DNS_LABEL_RE.match(name):
        return name
    stem = re.sub(r"[^-a-z0-9]", "-", owner)[: 63 - len(suffix) - 12].strip("-")
    return f"s-{stem}-{_short_hash(owner)}-{suffix}".replace("--", "-")


def label_value(name: str) -> str:
    """Label values are ≤63 characters; longer object names are shortened with a hash."""
    return name if len(name) <= 63 else f"{name[:54]}-{_short_hash(name)}"


def child_labels(stream_name: str, component: str) -> dict[str, str]:
    return {
        NAME_LABEL: "streamops",
        INSTANCE_LABEL: label_value(stream_name),
        COMPONENT_LABEL: component,
        MANAGED_BY_LABEL: MANAGED_BY,
        STREAM_LABEL: label_value(stream_name),
    }


def owner_reference(kind: str, name: str, uid: str) -> Manifest:
    """Makes the child garbage-collected with its owner (controller=True: one owner manages it)."""
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Body | None, uid: str | None) -> bool:
    """Whether `obj` has the owner `uid` among its ownerReferences (a child this owner made)."""
    if not obj:
        return False
    return any(ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])

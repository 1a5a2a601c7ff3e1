"""What a Kubernetes object is to the control plane: free-form JSON, named once here (the typed
views are the pydantic models of streamops.api and streamops.contract). Standard library only, so
that `streamops rbac` and the chart tooling import it without the operator's dependencies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from sys import intern
from typing import Any

Body = Mapping[str, Any]  # an object as read: from the API server, a kopf body or an index entry
Manifest = dict[str, Any]  # an object (or merge patch) as the operator builds and sends it
ObjectIndex = Mapping[tuple[str, str], Iterable[Manifest]]  # a kopf index: (namespace, name) -> the object
PolicyRule = dict[str, list[str]]  # an RBAC rule: apiGroups, resources, verbs
# Strings up to this long that plain() shares between objects (enum values, labels' values, API
# versions, kinds); longer ones (uids, URLs, messages) are each object's own anyway.
SHARED_LENGTH = 32


def timestamp(value: object) -> datetime | None:
    """A Kubernetes timestamp (RFC 3339 Time or MicroTime, `Z`); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def plain(value: Any) -> Any:
    """kopf hands out read-only mapping views; pydantic, comparisons and indexes want plain data.
    Keys are interned: JSON decoding makes every object its own copy of "metadata", "name",
    "ownerReferences" …, and the copies kept per object (index entries, written statuses) would
    each hold theirs (≈1.5 MB per 1,000 objects, docs/design/operator-scale.md)."""
    if isinstance(value, Mapping):
        return {intern(k) if type(k) is str else k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if type(value) is str and len(value) <= SHARED_LENGTH:
        return intern(value)  # ("TCP", "ClusterIP", "True", "streaming.streamops.dev/v1alpha1", a label's value …)
    return value

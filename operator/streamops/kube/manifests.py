"""What a Kubernetes object is to the control plane: free-form JSON, named once here (the typed
views are the pydantic models of streamops.api and streamops.contract). Standard library only, so
that `streamops rbac` and the chart tooling import it without the operator's dependencies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

Body = Mapping[str, Any]  # an object as read: from the API server, a kopf body or an index entry
Manifest = dict[str, Any]  # an object (or merge patch) as the operator builds and sends it
ObjectIndex = Mapping[tuple[str, str], Iterable[Manifest]]  # a kopf index: (namespace, name) -> the object
PolicyRule = dict[str, list[str]]  # an RBAC rule: apiGroups, resources, verbs


def timestamp(value: object) -> datetime | None:
    """A Kubernetes timestamp (RFC 3339 Time or MicroTime, `Z`); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None

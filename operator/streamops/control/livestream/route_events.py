"""What a watch event of a stream's playback route (its Ingress or HTTPRoute) does
(handlers.playback_route_event), decided from the route alone (pure)."""

from __future__ import annotations

from streamops.api import LIVESTREAM
from streamops.control.runtime.indexes import controller_of
from streamops.control.runtime.state import ObjectKey
from streamops.kube.manifests import Body
from streamops.kube.naming import SPEC_HASH_ANNOTATION


def playback_route_wake(event_type: str | None, route: Body) -> tuple[ObjectKey, bool] | None:
    """The stream a watch event of its Ingress or HTTPRoute wakes, and whether the stream reconciles:
    when the route went away, or lost the hash of what was asked (an edit or apply that dropped the
    annotation), so it is put back at once rather than at the next resync. Other events (the
    controller writing the route's status, the operator's own writes) only wake the loop."""
    meta = route.get("metadata") or {}
    owner = controller_of(meta)
    if owner is None or owner.get("kind") != LIVESTREAM.kind:
        return None
    drifted = event_type == "DELETED" or SPEC_HASH_ANNOTATION not in (meta.get("annotations") or {})
    return (LIVESTREAM.kind, meta.get("namespace") or "", str(owner.get("name"))), drifted

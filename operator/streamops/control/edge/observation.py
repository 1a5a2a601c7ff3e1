"""What the edge's controller reads before it decides (observe.py reads it, plan.py decides from it):
the namespace's streams that want the edge, as their primary ingest Services record it, and the edge's
objects as they are."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamops.api import LIVESTREAM
from streamops.api.playback_policy import PlaybackRules
from streamops.kube.manifests import Body, Manifest
from streamops.kube.naming import EDGE_OWNER_ANNOTATION, edge_owner_route


@dataclass(frozen=True, order=True)
class EdgeStream:
    """A stream whose viewers come through the edge."""

    name: str
    uid: str
    api_version: str
    route: tuple[str, bool] | None  # (playback path, public); None: recorded by an older operator

    @classmethod
    def of(cls, service: Body) -> EdgeStream | None:
        """The stream a primary ingest Service says wants the edge (its EDGE_OWNER_ANNOTATION and its
        controller, the stream); None for any other Service, or one being deleted."""
        meta = service.get("metadata") or {}
        value = (meta.get("annotations") or {}).get(EDGE_OWNER_ANNOTATION)
        if not value or meta.get("deletionTimestamp"):
            return None
        owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
        if owner is None or owner.get("kind") != LIVESTREAM.kind or not owner.get("uid"):
            return None
        return cls(str(owner["name"]), str(owner["uid"]), str(owner["apiVersion"]), edge_owner_route(value))

    def owner(self) -> Manifest:
        """Its reference among the Deployment's owners: one of many, not the controller."""
        return {
            "apiVersion": self.api_version,
            "kind": LIVESTREAM.kind,
            "name": self.name,
            "uid": self.uid,
            "blockOwnerDeletion": False,
        }


@dataclass(frozen=True)
class EdgeObserved:
    namespace: str
    streams: tuple[EdgeStream, ...]  # by name
    deployment: Manifest | None
    # Read only while a stream wants the edge (else the Deployment goes, and they with it):
    service: Manifest | None = None
    autoscaler: Manifest | None = None
    routes: Manifest | None = None  # the routes ConfigMap
    # The rules of the PlaybackPolicy each stream names, by stream (None: the policy is missing); a
    # stream that names none is not there.
    rules: dict[str, PlaybackRules | None] = field(default_factory=dict)

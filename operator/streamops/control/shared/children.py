"""Make one owned child match its desired manifest: create it, roll a Pod whose spec hash is
stale, patch a Service that drifted, delete what is no longer wanted. Objects the owner does not
own are never touched."""

from __future__ import annotations

from streamops.control.shared.kube import KubeApi
from streamops.control.shared.manifests import Body, Manifest
from streamops.control.shared.naming import ADOPTED_ANNOTATION, SPEC_HASH_ANNOTATION
from streamops.control.shared.ports import PortAllocator, ports_of


def owned_by(obj: Body | None, uid: str | None) -> bool:
    if not obj:
        return False
    return any(ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])


def ensure_pod(api: KubeApi, desired: Manifest | None, current: Manifest | None, uid: str | None) -> Manifest | None:
    """`current` is the Pod as just read. Returns the Pod as it is now (None when there is none).
    A stale Pod is deleted, not replaced here: its DELETED event brings the owner back."""
    if current is not None and not owned_by(current, uid):
        return current
    if desired is None:
        if current is not None and not current["metadata"].get("deletionTimestamp"):
            meta = current["metadata"]
            api.delete("Pod", meta["namespace"], meta["name"], meta["uid"])
            return api.get("Pod", meta["namespace"], meta["name"])
        return current
    meta = desired["metadata"]
    if current is None:
        return api.create(desired) or api.get("Pod", meta["namespace"], meta["name"])
    want = meta["annotations"][SPEC_HASH_ANNOTATION]
    annotations = current["metadata"].get("annotations") or {}
    if ADOPTED_ANNOTATION in annotations:
        return current  # an adopted standby recorder: built for no Recording, configured by POST /start
    have = annotations.get(SPEC_HASH_ANNOTATION)
    if have != want and not current["metadata"].get("deletionTimestamp"):
        api.delete("Pod", meta["namespace"], meta["name"], current["metadata"]["uid"])
        return api.get("Pod", meta["namespace"], meta["name"])
    return current


def _service_field(spec: Body, key: str) -> object:
    if key == "ports":  # the server adds nodePort/appProtocol defaults; compare what we set
        fields = ("name", "port", "targetPort", "protocol")
        return [{f: p.get(f) for f in fields} for p in spec.get("ports") or []]
    return spec.get(key)


def ensure_service(api: KubeApi, desired: Manifest, current: Manifest | None, uid: str | None) -> None:
    meta = desired["metadata"]
    if current is None:
        api.create(desired)
        return
    if not owned_by(current, uid):
        return  # someone else's Service: never touch it (the Pod's status will say why it is unreachable)
    spec = current.get("spec", {})
    drift = {k: v for k, v in desired["spec"].items() if k != "type" and _service_field(spec, k) != v}
    have_labels = current["metadata"].get("labels") or {}
    have_annotations = current["metadata"].get("annotations") or {}
    if (
        drift
        or not meta["labels"].items() <= have_labels.items()
        or not meta["annotations"].items() <= have_annotations.items()
    ):
        api.patch(
            "Service",
            meta["namespace"],
            meta["name"],
            {"metadata": {"labels": meta["labels"], "annotations": meta["annotations"]}, "spec": desired["spec"]},
        )


def remove_pod(api: KubeApi, current: Manifest | None, uid: str | None, allocator: PortAllocator | None) -> None:
    """No Pod wanted (a stopped Recording, an inactive Restream): ours goes, and its host ports are
    given back at once."""
    ensure_pod(api, None, current, uid)
    if allocator is not None and current is not None:
        allocator.release(ports_of(current).values())

"""Make one owned child match its desired manifest: create it, roll a Pod whose spec hash is
stale, patch a Service that drifted, delete what is no longer wanted. Objects the owner does not
own are never touched."""

from __future__ import annotations

from typing import Any

from streamops.control.shared.kube import KubeApi
from streamops.control.shared.naming import ADOPTED_ANNOTATION, SPEC_HASH_ANNOTATION


def owned_by(obj: dict[str, Any] | None, uid: str | None) -> bool:
    return bool(obj) and any(ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])  # type: ignore[union-attr]


def ensure_pod(
    api: KubeApi, desired: dict[str, Any] | None, current: dict[str, Any] | None, uid: str | None
) -> dict[str, Any] | None:
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


def _service_field(spec: dict[str, Any], key: str) -> Any:
    if key == "ports":  # the server adds nodePort/appProtocol defaults; compare what we set
        fields = ("name", "port", "targetPort", "protocol")
        return [{f: p.get(f) for f in fields} for p in spec.get("ports") or []]
    return spec.get(key)


def ensure_service(api: KubeApi, desired: dict[str, Any], current: dict[str, Any] | None, uid: str | None) -> None:
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

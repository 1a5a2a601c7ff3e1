"""Make one owned child match its desired manifest: create it, roll a Pod whose spec hash is
stale, patch a Service that drifted, delete what is no longer wanted. Objects the owner does not
own are never touched."""

from __future__ import annotations

import json
from dataclasses import dataclass

from streamops.control.workers.drain import NODE_PART
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.restarts import (
    BUILT_FOR_ANNOTATION,
    KEEP,
    REPLACED_FOR_ANNOTATION,
    PodChange,
    built_from,
    owner_difference,
    pod_change,
    pod_difference,
)
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Body, Manifest
from streamops.kube.naming import ADOPTED_ANNOTATION, MANAGED_ANNOTATIONS_ANNOTATION, SPEC_HASH_ANNOTATION, owned_by


@dataclass(frozen=True)
class PodRoll:
    """The Pod as it is after `roll_pod`, and what was decided about the running one."""

    pod: Manifest | None
    change: PodChange = KEEP


def roll_pod(
    api: KubeApi,
    desired: Manifest | None,
    current: Manifest | None,
    uid: str | None,
    generation: int | None = None,
    busy: bool = False,
    immediate: bool = False,
    moved: str | None = None,
    *,
    handover: bool = False,
) -> PodRoll:
    """`current` is the Pod as just read. A Pod that differs from `desired` in a part its worker
    needs is replaced, or kept until it is idle (restarts.py: which, and why); a replaced Pod is
    annotated with the part, then deleted, not re-created here: its DELETED event brings the owner
    back. `generation` is the owner's (recorded on a new Pod); `busy`: the worker has a publisher,
    records or pushes; `immediate`: the owner asks for a pending restart now; `moved`: why the Pod
    must leave its node (drain.py), a difference named NODE_PART when its spec has none; `handover`:
    a busy worker is handed over rather than kept (the change says so; the caller makes the successor)."""
    if current is not None and not owned_by(current, uid):
        return PodRoll(current)
    if desired is None:
        if current is not None and not current["metadata"].get("deletionTimestamp"):
            meta = current["metadata"]
            api.delete("Pod", meta["namespace"], meta["name"], meta["uid"])
            return PodRoll(api.get("Pod", meta["namespace"], meta["name"]))
        return PodRoll(current)
    meta = desired["metadata"]
    if current is None:
        if generation is not None:
            meta["annotations"][BUILT_FOR_ANNOTATION] = str(generation)
        return PodRoll(api.create(desired) or api.get("Pod", meta["namespace"], meta["name"]))
    annotations = current["metadata"].get("annotations") or {}
    if ADOPTED_ANNOTATION in annotations or current["metadata"].get("deletionTimestamp"):
        return PodRoll(current)  # an adopted standby recorder: built for no Recording, configured by POST /start
    part = pod_difference(desired, current) or (NODE_PART if moved else None)
    referenced = bool(built_from(desired))
    owner_part = owner_difference(desired, current) if referenced and part is not None else part
    built_for = annotations.get(BUILT_FOR_ANNOTATION)
    change = pod_change(part, built_for, generation, busy, immediate, owner_part, referenced, handover)
    if change.action != "replace":
        return PodRoll(current, change)
    name, pod_uid = meta["name"], current["metadata"]["uid"]
    api.patch("Pod", meta["namespace"], name, {"metadata": {"annotations": {REPLACED_FOR_ANNOTATION: change.part}}})
    api.delete("Pod", meta["namespace"], name, pod_uid)
    return PodRoll(api.get("Pod", meta["namespace"], name), change)


def ensure_pod(api: KubeApi, desired: Manifest | None, current: Manifest | None, uid: str | None) -> Manifest | None:
    """`roll_pod` for a worker that is never busy in a way a restart would hurt (a standby
    recorder, a clipper): returns the Pod as it is now (None when there is none)."""
    return roll_pod(api, desired, current, uid).pod


def _service_ports(spec: Body, desired: list[Manifest]) -> list[Manifest]:
    """The server adds nodePort/appProtocol defaults: compare what we set (a nodePort only when we
    ask for a fixed one)."""
    fixed = {p["name"] for p in desired if "nodePort" in p}
    fields = ("name", "port", "targetPort", "protocol")
    return [
        {f: p.get(f) for f in (*fields, "nodePort") if f in fields or p.get("name") in fixed}
        for p in spec.get("ports") or []
    ]


# Fields only some Service types have: when the desired spec leaves one out, the patch clears it
# (the API server refuses loadBalancerClass on a ClusterIP Service, externalTrafficPolicy on one
# that is not reached from outside).
_TYPE_DEPENDENT = ("loadBalancerClass", "externalTrafficPolicy")


def annotations_patch(desired: Body, current: Body) -> Manifest | None:
    """The annotations to write (with nulls for keys we set before and no longer want: listed in
    MANAGED_ANNOTATIONS_ANNOTATION), None when nothing differs."""
    have = current.get("annotations") or {}
    want = dict(desired.get("annotations") or {})
    try:
        before = json.loads(have.get(MANAGED_ANNOTATIONS_ANNOTATION) or "[]")
    except ValueError:
        before = []
    stale = {k: None for k in before if isinstance(k, str) and k in have and k not in want}
    if not stale and want.items() <= have.items():
        return None
    return {**want, **stale}


def ensure_service(api: KubeApi, desired: Manifest, current: Manifest | None, uid: str | None) -> Manifest | None:
    """Create, or patch in place what drifted (type included: the Service keeps its name, its
    cluster IP and the host-port annotation; the server allocates or drops nodePorts). Returns the
    Service as created (its nodePorts allocated), or as it was before a patch."""
    meta = desired["metadata"]
    if current is None:
        return api.create(desired)
    if not owned_by(current, uid):
        return None  # someone else's Service: never touch it (the Pod's status will say why it is unreachable)
    spec = current.get("spec", {})
    want = desired["spec"]
    drift = {k for k, v in want.items() if (_service_ports(spec, v) if k == "ports" else spec.get(k)) != v}
    # Type-dependent fields the desired spec leaves out but the Service has are cleared (the API
    # server refuses loadBalancerClass on a Service that is no LoadBalancer, externalTrafficPolicy
    # on a ClusterIP one).
    clear = {k: None for k in _TYPE_DEPENDENT if k not in want and spec.get(k) and want["type"] == "ClusterIP"}
    if "loadBalancerClass" not in want and spec.get("loadBalancerClass"):
        clear["loadBalancerClass"] = None
    have_labels = current["metadata"].get("labels") or {}
    annotations = annotations_patch(meta, current["metadata"])
    if drift or clear or not meta["labels"].items() <= have_labels.items() or annotations is not None:
        ports = want["ports"]
        if want["type"] != "ClusterIP" and spec.get("type") in ("NodePort", "LoadBalancer"):
            # Keep the allocated nodePorts (the list is replaced whole by a merge patch).
            allocated = {p.get("name"): p.get("nodePort") for p in spec.get("ports") or [] if p.get("nodePort")}
            ports = [{"nodePort": allocated[p["name"]], **p} if p["name"] in allocated else p for p in ports]
        patch: Manifest = {"metadata": {"labels": meta["labels"]}, "spec": {**want, "ports": ports, **clear}}
        if annotations is not None:
            patch["metadata"]["annotations"] = annotations
        api.patch("Service", meta["namespace"], meta["name"], patch)
    return current


def ensure_owned(api: KubeApi, desired: Manifest | None, current: Manifest | None, kind: str, uid: str | None) -> None:
    """A child that carries the hash of its desired spec (SPEC_HASH_ANNOTATION: an Ingress, an
    HTTPRoute): create it, patch it when the hash differs, delete it when no longer wanted."""
    if current is not None and not owned_by(current, uid):
        return
    if desired is None:
        if current is not None and not current["metadata"].get("deletionTimestamp"):
            meta = current["metadata"]
            api.delete(kind, meta["namespace"], meta["name"], meta["uid"])
        return
    meta = desired["metadata"]
    if current is None:
        api.create(desired)
        return
    have = (current["metadata"].get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
    if have != meta["annotations"][SPEC_HASH_ANNOTATION]:
        patch: Manifest = {"metadata": {"labels": meta["labels"]}, "spec": desired["spec"]}
        patch["metadata"]["annotations"] = annotations_patch(meta, current["metadata"]) or meta["annotations"]
        owners = meta.get("ownerReferences")
        if owners and owners != current["metadata"].get("ownerReferences"):
            patch["metadata"]["ownerReferences"] = owners  # (a shared pusher's budget: its Restreams)
        api.patch(kind, meta["namespace"], meta["name"], patch)


def remove_pod(api: KubeApi, current: Manifest | None, uid: str | None, allocator: PortAllocator | None) -> None:
    """No Pod wanted (a stopped Recording, an inactive Restream): ours goes, and its host ports are
    given back at once."""
    ensure_pod(api, None, current, uid)
    if allocator is not None and current is not None:
        allocator.release(ports_of(current).values())

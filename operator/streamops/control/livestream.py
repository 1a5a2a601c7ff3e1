"""Reconcile one LiveStream: make its children match the spec, then write the observed status."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from streamops.api import LIVESTREAM, LiveStream, LiveStreamStatus
from streamops.control.conditions import Transition, condition_transitions
from streamops.control.ingest import (
    Role,
    ingest_names,
    ingest_pod,
    ingest_roles,
    ingest_service,
    stream_key_ref,
    stream_key_secret,
)
from streamops.control.kube import KubeApi, NamespaceTerminating
from streamops.control.livestream_status import (
    IngestObservation,
    PodObservation,
    invalid_spec_status,
    livestream_status,
)
from streamops.control.naming import SPEC_HASH_ANNOTATION
from streamops.control.settings import OperatorSettings
from streamops.control.status_patch import status_patch

ROLES: tuple[Role, ...] = ("primary", "backup")


def plain(value: Any) -> Any:
    """kopf hands out read-only mapping views; pydantic and comparisons want plain data."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _owned_by(obj: dict[str, Any], uid: str | None) -> bool:
    return any(ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])


def _ensure_stream_key(api: KubeApi, stream: LiveStream) -> str | None:
    """Generate the key Secret when none is referenced; return the name of a referenced one that is missing."""
    ref = stream_key_ref(stream)
    push = stream.spec.source.push
    if ref is None or push is None:
        return None
    secret = api.get("Secret", stream.metadata.namespace or "", ref.name)
    if push.stream_key_secret_ref is None:
        if secret is None:
            api.create(stream_key_secret(stream, secrets.token_urlsafe(24)))
        return None
    if secret is None or ref.key not in (secret.get("data") or {}):
        return f"{ref.name} (key {ref.key})" if secret else ref.name
    return None


def _ensure_service(api: KubeApi, desired: dict[str, Any], uid: str | None) -> None:
    meta = desired["metadata"]
    current = api.get("Service", meta["namespace"], meta["name"])
    if current is None:
        api.create(desired)
        return
    if not _owned_by(current, uid):
        return  # someone else's Service: never touch it (the Pod's status will say why it is unreachable)
    spec = current.get("spec", {})
    drift = {k: v for k, v in desired["spec"].items() if k != "type" and _service_field(spec, k) != v}
    if drift or not meta["labels"].items() <= (current["metadata"].get("labels") or {}).items():
        api.patch(
            "Service",
            meta["namespace"],
            meta["name"],
            {"metadata": {"labels": meta["labels"]}, "spec": desired["spec"]},
        )


def _service_field(spec: dict[str, Any], key: str) -> Any:
    if key == "ports":  # the server adds nodePort/appProtocol defaults; compare what we set
        fields = ("name", "port", "targetPort", "protocol")
        return [{f: p.get(f) for f in fields} for p in spec.get("ports") or []]
    return spec.get(key)


def _ensure_pod(
    api: KubeApi, desired: dict[str, Any] | None, namespace: str, name: str, uid: str | None
) -> dict[str, Any] | None:
    """Create the Pod, or delete one that is stale or unwanted (its DELETED event brings us back)."""
    current = api.get("Pod", namespace, name)
    if current is not None and not _owned_by(current, uid):
        return current
    if desired is None:
        if current is not None:
            api.delete("Pod", namespace, name, current["metadata"]["uid"])
            return api.get("Pod", namespace, name)
        return None
    if current is None:
        return api.create(desired) or api.get("Pod", namespace, name)
    want = desired["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    have = (current["metadata"].get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
    if have != want and not current["metadata"].get("deletionTimestamp"):
        api.delete("Pod", namespace, name, current["metadata"]["uid"])
        return api.get("Pod", namespace, name)
    return current


def reconcile_livestream(
    api: KubeApi, settings: OperatorSettings, body: Mapping[str, Any], now: datetime | None = None
) -> list[Transition]:
    """Idempotent: safe to run from any trigger, any number of times. Returns condition changes."""
    try:
        return _reconcile(api, settings, plain(body), now or datetime.now(UTC))
    except NamespaceTerminating:
        return []


def _write_status(api: KubeApi, raw: dict[str, Any], status: LiveStreamStatus) -> list[Transition]:
    patch = status_patch(raw.get("status"), status.wire())
    if patch is not None:
        api.patch_status(LIVESTREAM, raw["metadata"]["namespace"], raw["metadata"]["name"], patch)
    previous = LiveStreamStatus.model_validate(raw.get("status") or {})
    return condition_transitions(previous.conditions, status.conditions)


def _reconcile(api: KubeApi, settings: OperatorSettings, raw: dict[str, Any], now: datetime) -> list[Transition]:
    try:
        stream = LiveStream.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        return _write_status(api, raw, invalid_spec_status(raw, f"spec rejected by the operator: {problems}", now))
    namespace, name, uid = stream.metadata.namespace or "", stream.metadata.name, stream.metadata.uid

    missing_secret = _ensure_stream_key(api, stream)
    roles = ingest_roles(stream)
    pods: dict[Role, PodObservation] = {}
    for role in ROLES:
        names = ingest_names(name, role)
        if role in roles:
            _ensure_service(api, ingest_service(stream, role), uid)
        else:
            service = api.get("Service", namespace, names.service)
            if service is not None and _owned_by(service, uid):
                api.delete("Service", namespace, names.service, service["metadata"]["uid"])
        run = role in roles and stream.spec.active and missing_secret is None
        desired = ingest_pod(stream, role, settings) if run else None
        pod = _ensure_pod(api, desired, namespace, names.pod, uid)
        if role in roles:
            pods[role] = PodObservation.of(names.pod, pod)

    return _write_status(api, raw, livestream_status(stream, IngestObservation(pods, missing_secret), now))

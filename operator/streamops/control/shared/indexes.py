"""What the operator's in-memory indexes hold (kopf keeps them from its watches): small frozen
facts per object instead of whole bodies. Pure functions of one object's body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamops.api import GROUP
from streamops.control.shared.naming import COMPONENT_LABEL
from streamops.control.shared.pod_observation import PodObservation

PodKey = tuple[str, str, str, str]  # namespace, owner kind, owner name, component


@dataclass(frozen=True)
class StreamFacts:
    uid: str
    live: bool
    backup_live: bool


@dataclass(frozen=True)
class RecordingIndexFacts:
    name: str
    recording: bool
    duration: float | None
    auto: bool


def controller_of(meta: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and str(ref.get("apiVersion", "")).startswith(GROUP + "/"):
            return ref
    return None


def worker_pod_entry(body: Mapping[str, Any]) -> dict[PodKey, PodObservation]:
    meta = body.get("metadata") or {}
    owner = controller_of(meta)
    if owner is None:
        return {}
    component = (meta.get("labels") or {}).get(COMPONENT_LABEL, "")
    key = (meta.get("namespace") or "", str(owner.get("kind")), str(owner.get("name")), component)
    return {key: PodObservation.of(meta.get("name") or "", body)}


def stream_entry(body: Mapping[str, Any]) -> dict[tuple[str, str], StreamFacts]:
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    facts = StreamFacts(
        uid=meta.get("uid") or "", live=bool(status.get("live")), backup_live=bool(status.get("backupLive"))
    )
    return {(meta.get("namespace") or "", meta.get("name") or ""): facts}


def recording_entry(body: Mapping[str, Any]) -> dict[tuple[str, str], RecordingIndexFacts]:
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    stream = ((body.get("spec") or {}).get("streamRef") or {}).get("name") or ""
    owner = controller_of(meta)
    duration = status.get("duration")
    facts = RecordingIndexFacts(
        name=meta.get("name") or "",
        recording=bool(status.get("recording")),
        duration=float(duration) if isinstance(duration, int | float) else None,
        auto=bool(owner and owner.get("kind") == "LiveStream"),
    )
    return {(meta.get("namespace") or "", stream): facts}


def child_entry(body: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """A worker Pod or ingest Service as the reconcilers read it (children.py, ports.py): identity,
    owners, labels, our own annotations, a Service's spec, a Pod's phase. Not the Pod spec, the
    managed fields or others' annotations, which are most of a body."""
    meta = body.get("metadata") or {}
    trimmed: dict[str, Any] = {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "labels": dict(meta.get("labels") or {}),
            "annotations": {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith(GROUP + "/")},
            "ownerReferences": [dict(r) for r in meta.get("ownerReferences") or []],
        }
    }
    if meta.get("deletionTimestamp"):
        trimmed["metadata"]["deletionTimestamp"] = meta["deletionTimestamp"]
    if body.get("kind") == "Service":
        trimmed["spec"] = plain(body.get("spec") or {})
    else:
        trimmed["status"] = {"phase": (body.get("status") or {}).get("phase")}
    return {(meta.get("namespace") or "", meta.get("name") or ""): trimmed}


def stream_object_entry(body: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """A LiveStream as Recordings and Restreams read it (its spec and identity, not its status)."""
    meta = body.get("metadata") or {}
    trimmed = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: plain(meta[k]) for k in ("name", "namespace", "uid", "generation", "labels") if k in meta},
        "spec": plain(body.get("spec") or {}),
    }
    return {(meta.get("namespace") or "", meta.get("name") or ""): trimmed}


def plain(value: Any) -> Any:
    """kopf hands out read-only mapping views; pydantic, comparisons and indexes want plain data."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value

"""What the operator's in-memory indexes hold (kopf keeps them from its watches): small frozen
facts per object instead of whole bodies. Pure functions of one object's body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamops.api import GROUP
from streamops.control.naming import COMPONENT_LABEL
from streamops.control.pod_observation import PodObservation

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

"""LiveStream status, computed only from what is observed (level-based)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streamops.api import LiveStream, LiveStreamStatus
from streamops.control.conditions import Observed, merge_conditions
from streamops.control.ingest import Role, ingest_endpoints, ingest_names, ingest_roles, playback_urls


@dataclass(frozen=True)
class PodObservation:
    name: str
    exists: bool = False
    phase: str | None = None
    ready: bool = False
    deleting: bool = False
    detail: str = ""

    @classmethod
    def of(cls, name: str, pod: dict[str, Any] | None) -> PodObservation:
        if pod is None:
            return cls(name=name)
        status = pod.get("status") or {}
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        ready = conditions.get("Ready", {}).get("status") == "True"
        scheduled = conditions.get("PodScheduled", {})
        detail = status.get("message") or scheduled.get("message") or ""
        if not detail and not pod.get("spec", {}).get("nodeName"):
            detail = "waiting for a node to run it"
        return cls(
            name=name,
            exists=True,
            phase=status.get("phase") or "Pending",
            ready=ready,
            deleting=bool(pod.get("metadata", {}).get("deletionTimestamp")),
            detail=detail,
        )


@dataclass(frozen=True)
class IngestObservation:
    pods: dict[Role, PodObservation]
    key_secret_missing: str | None = None  # name of a referenced Secret that does not exist


def _ingest_condition(pod: PodObservation) -> Observed:
    if not pod.exists or pod.deleting:
        return Observed("Ready", "False", "IngestStarting", f"creating ingest Pod {pod.name}")
    if pod.phase == "Running":
        return Observed("Ready", "True", "IngestRunning", f"ingest Pod {pod.name} is running")
    if pod.phase == "Pending":
        detail = f": {pod.detail}" if pod.detail else ""
        return Observed("Ready", "False", "IngestPending", f"ingest Pod {pod.name} is Pending{detail}")
    return Observed("Ready", "False", "IngestFailed", f"ingest Pod {pod.name} is {pod.phase}: {pod.detail}")


def livestream_status(stream: LiveStream, observed: IngestObservation, now: datetime) -> LiveStreamStatus:
    previous = stream.status or LiveStreamStatus()
    generation = stream.metadata.generation
    primary = observed.pods.get("primary", PodObservation(ingest_names(stream.metadata.name, "primary").pod))
    backup = observed.pods.get("backup")
    active = stream.spec.active

    conditions: list[Observed]
    if observed.key_secret_missing:
        reason, message = (
            "StreamKeySecretNotFound",
            f"Secret {observed.key_secret_missing} named in source.push.streamKeySecretRef does not exist",
        )
        conditions = [
            Observed("Ready", "False", reason, message),
            Observed("Stalled", "True", reason, message),
        ]
    elif not active:
        conditions = [
            Observed("Ready", "True", "Inactive", "stream is switched off (spec.active false): pushes are refused")
        ]
    else:
        ready = _ingest_condition(primary)
        conditions = [ready]
        if ready.status != "True":
            conditions.append(Observed("Reconciling", "True", ready.reason, ready.message))

    live = active and primary.ready
    backup_live = bool(active and backup and backup.ready)
    conditions.append(
        Observed("Live", "True", "MediaFlowing", "the primary ingest receives media")
        if live
        else Observed("Live", "False", "NoMedia" if active else "Inactive", "no media is arriving")
    )
    if "backup" in ingest_roles(stream):
        conditions.append(
            Observed("BackupLive", "True", "MediaFlowing", "the backup ingest receives media")
            if backup_live
            else Observed("BackupLive", "False", "NoMedia" if active else "Inactive", "no media is arriving")
        )
    conditions.append(Observed("Recording", "False", "NotRecording", "no Recording is running"))

    return LiveStreamStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, conditions, generation, now),
        live=live,
        backup_live=backup_live,
        active=active,
        ingest=ingest_endpoints(stream),
        playback=playback_urls(stream),
        started_at_primary=previous.started_at_primary,
        started_at_backup=previous.started_at_backup,
        finished_at_primary=previous.finished_at_primary,
        recording=False,
    )


def invalid_spec_status(raw: dict[str, Any], message: str, now: datetime) -> LiveStreamStatus:
    """A spec the API server let through but the operator cannot use (e.g. a CRD older than the
    operator): say so instead of retrying forever."""
    previous = LiveStreamStatus.model_validate(raw.get("status") or {})
    generation = raw.get("metadata", {}).get("generation")
    observed = [
        Observed(t, "True" if t == "Stalled" else "False", "InvalidSpec", message) for t in ("Ready", "Stalled")
    ]
    return LiveStreamStatus(
        observed_generation=generation, conditions=merge_conditions(previous.conditions, observed, generation, now)
    )

"""Reconcile one Clip: the checks that refuse it before any Pod (its stream, DVR, range and
rendition; the recordings quota; its storage's Secrets, present and labelled for use by specs), then
the recordings claim and the clipper Pod, which exists until the Clip's final status is written.
Thin: the object parsed, what exists read (observe.py), what is wanted decided (plan.py, pure), the
plan carried out (apply.py); docs/design/reconcile-plan.md. Status is written by the status loop."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import Clip
from streamops.api.recording import RecordingStorage
from streamops.control.clip import reasons
from streamops.control.clip.apply import apply_plan
from streamops.control.clip.observe import observe
from streamops.control.clip.plan import Refused, plan_clipper
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.ports import PortAllocator
from streamops.kube.client import KubeApi, NamespaceTerminating
from streamops.kube.manifests import Body


@dataclass(frozen=True)
class ClipOutcome:
    generation: int | None
    invalid_spec: str | None = None
    waiting_for_stream: bool = False  # no Pod: the stream (or its ingest ports) is missing
    stream_uid: str | None = None
    refused: Refused | None = None  # no Pod: the Clip is refused before any cut
    storage: RecordingStorage | None = None
    storage_refused: StorageRefusal | None = None  # no Pod: a Secret of the storage is missing (or refused)


def final_in_status(raw: Body) -> bool:
    """Succeeded is True or False (stored, refused or failed): the Clip is done for good."""
    conditions = (raw.get("status") or {}).get("conditions") or []
    return any(c.get("type") == reasons.SUCCEEDED and c.get("status") in ("True", "False") for c in conditions)


def reconcile_clip(
    api: KubeApi,
    settings: OperatorSettings,
    body: Body,
    allocator: PortAllocator | None = None,
    final: bool | None = None,
    no_space: str | None = None,
) -> ClipOutcome:
    """Idempotent. Once the final status is written the Pod goes (the video stays); `final`: the
    loop has just written it (the body it hands over may not show it yet). `no_space` (from the
    status loop's quota check, storage_quota.py): the quota is full, how full; a Clip with no
    clipper yet is refused (NoSpace, the hosted platform's words), as a Recording gets no recorder."""
    parsed = parse(Clip, body)
    generation, clip = parsed.generation, parsed.obj
    if clip is None:
        return ClipOutcome(generation, invalid_spec=parsed.problem)
    done = bool(final) or final_in_status(parsed.raw)
    try:
        observed = observe(api, clip, settings, done, allocator is not None)
        plan = plan_clipper(clip, observed, done, no_space)
        apply_plan(api, settings, plan, observed, allocator)
    except NamespaceTerminating:
        return ClipOutcome(generation)
    return ClipOutcome(
        generation,
        waiting_for_stream=plan.waiting_for_stream,
        stream_uid=plan.stream.metadata.uid if plan.stream is not None else None,
        refused=plan.refused,
        storage=plan.storage,
        storage_refused=plan.storage_refused,
    )

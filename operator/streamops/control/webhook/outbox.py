"""A stream's outbox (pure): the facts last notified for each of its objects, the last sequence
number, and the events not yet delivered to every subscription they were recorded for. It lives in
one ConfigMap per stream, so it is in etcd: written before any delivery, it survives the operator's
restart, its Pod moving to another node and the loss of that node (docs/design/webhooks.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from streamops.contract.webhook_event import cloud_event
from streamops.control.webhook.events import Change, Facts
from streamops.kube.manifests import Manifest
from streamops.kube.naming import COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL

OUTBOX_COMPONENT = "webhook-outbox"
STREAM_LABEL = "streaming.streamops.dev/stream"
OUTBOX_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={OUTBOX_COMPONENT}"
DATA_KEY = "outbox.json"
RETENTION_SECONDS = 24 * 3600  # retried for up to 24 h, as Mux does
# At most this many undelivered events per stream (≈0.6 KiB each: well inside a ConfigMap's 1 MiB);
# beyond it the oldest are dropped and counted as expired. A stream makes a few events per session.
MAX_EVENTS = 500


class PendingEvent(BaseModel):
    seq: int
    recorded_at: float  # Unix time it was written to the outbox (latency is measured from here)
    event: dict[str, Any]  # the CloudEvent, as sent
    pending: list[str]  # the uids of the subscriptions still to receive it


class Outbox(BaseModel):
    stream: str
    seq: int = 0
    facts: dict[str, Facts] = Field(default_factory=dict)  # subject → facts last notified
    events: list[PendingEvent] = Field(default_factory=list)

    def next_for(self, uid: str) -> PendingEvent | None:
        """The subscription's next event of this stream: the lowest sequence still pending for it."""
        return next((e for e in self.events if uid in e.pending), None)

    def backlog(self, uid: str) -> int:
        return sum(1 for e in self.events if uid in e.pending)


def outbox_name(stream: str) -> str:
    return f"streamops-events-{stream}"


def source_of(namespace: str, stream: str) -> str:
    return f"/apis/streaming.streamops.dev/v1alpha1/namespaces/{namespace}/livestreams/{stream}"


def recorded(
    outbox: Outbox,
    namespace: str,
    stream_uid: str,
    changes_by_subject: Mapping[str, tuple[Facts | None, Sequence[Change]]],
    subscribers: Mapping[str, Iterable[str]],
    now: datetime,
    base_data: Mapping[str, Any],
) -> Outbox:
    """The outbox with the new facts, and an event for every change at least one subscription wants
    (`subscribers`: event type → uids). Facts of a subject mapped to None are forgotten (the object
    is gone)."""
    seq = outbox.seq
    events = list(outbox.events)
    facts = dict(outbox.facts)
    for subject, (new_facts, changes) in changes_by_subject.items():
        if new_facts is None:
            facts.pop(subject, None)
        else:
            facts[subject] = new_facts
        for change in changes:
            uids = sorted(subscribers.get(change.type, ()))
            if not uids:
                continue
            seq += 1
            event = cloud_event(
                id=f"{stream_uid}-{seq}",
                type=change.type,
                source=source_of(namespace, outbox.stream),
                subject=change.subject,
                time=now,
                sequence=seq,
                data={**base_data, **change.data, "sequence": seq},
            )
            events.append(PendingEvent(seq=seq, recorded_at=now.timestamp(), event=event, pending=uids))
    return outbox.model_copy(update={"seq": seq, "events": events, "facts": facts})


def acknowledged(outbox: Outbox, uid: str, seq: int) -> Outbox:
    """The outbox after `uid` received event `seq`: an event no one waits for any more goes."""
    events = []
    for e in outbox.events:
        if e.seq == seq and uid in e.pending:
            e = e.model_copy(update={"pending": [p for p in e.pending if p != uid]})
        if e.pending:
            events.append(e)
    return outbox.model_copy(update={"events": events})


def pruned(outbox: Outbox, now: float, live_uids: set[str]) -> tuple[Outbox, dict[str, int]]:
    """Events older than 24 h, beyond MAX_EVENTS, or only for subscriptions that are gone, removed;
    and how many each live subscription lost (expired)."""
    lost: dict[str, int] = {}
    kept: list[PendingEvent] = []
    for e in outbox.events:
        pending = [p for p in e.pending if p in live_uids]
        if pending and now - e.recorded_at > RETENTION_SECONDS:
            for p in pending:
                lost[p] = lost.get(p, 0) + 1
            continue
        if pending:
            kept.append(e.model_copy(update={"pending": pending}) if pending != e.pending else e)
    overflow = len(kept) - MAX_EVENTS
    if overflow > 0:
        for e in kept[:overflow]:
            for p in e.pending:
                lost[p] = lost.get(p, 0) + 1
        kept = kept[overflow:]
    if len(kept) == len(outbox.events) and all(a is b for a, b in zip(kept, outbox.events, strict=True)):
        return outbox, lost
    return outbox.model_copy(update={"events": kept}), lost


def outbox_manifest(namespace: str, outbox: Outbox, resource_version: str | None) -> Manifest:
    metadata: dict[str, Any] = {
        "name": outbox_name(outbox.stream),
        "namespace": namespace,
        "labels": {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: OUTBOX_COMPONENT, STREAM_LABEL: outbox.stream},
    }
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {DATA_KEY: json.dumps(outbox.model_dump(mode="json"), separators=(",", ":"))},
    }


def outbox_of(config_map: Mapping[str, Any]) -> Outbox | None:
    """The outbox a ConfigMap holds; None when it holds none readable."""
    raw = (config_map.get("data") or {}).get(DATA_KEY)
    if not raw:
        return None
    try:
        return Outbox.model_validate_json(raw)
    except ValueError:
        return None

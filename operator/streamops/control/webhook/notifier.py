"""The webhooks' one entry point for the handlers: watch events of streams, recordings, restreams
and subscriptions come in; a stream whose objects changed is compared with its outbox's facts
(events.py), the events are written to the outbox (store.py) and the subscriptions that got some
are woken (delivery.py). Only streams that some subscription selects have an outbox: without
StreamWebhooks the operator writes nothing more than before."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf
from pydantic import ValidationError

from streamops.api.broadcast import stream_names
from streamops.api.common import Condition, client_fields, spec_client
from streamops.control.runtime.state import OperatorState
from streamops.control.webhook.delivery import SubscriptionDelivery
from streamops.control.webhook.events import (
    FACTS,
    Change,
    Facts,
    changes_between,
    facts_of,
    facts_to_notify,
    subject_of,
)
from streamops.control.webhook.outbox import Outbox, pruned, recorded
from streamops.control.webhook.store import OutboxStore, StreamKey
from streamops.control.webhook.subscription import DeliveryRecord, subscription_of
from streamops.kube.client import ApiError
from streamops.kube.manifests import plain

log = logging.getLogger("streamops.webhook")
# Connections to receivers: a pool of their own (the workers' telemetry client is another), no
# cookies, no environment proxies.
RECEIVER_CONNECTIONS = 100


def webhook_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=RECEIVER_CONNECTIONS),
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": "streamops-webhooks"},
    )


PRUNE_SECONDS = 60.0
ObjectKey = tuple[str, str, str]  # namespace, kind, name


def _pruning(live: set[str], lost: dict[str, int]) -> Callable[[Outbox | None], Outbox | None]:
    """Prune an outbox for the `live` subscriptions, counting into `lost` what each lost."""

    def prune(outbox: Outbox | None) -> Outbox | None:
        if outbox is None:
            return None
        kept, counts = pruned(outbox, time.time(), live)
        lost.update(counts)
        return kept

    return prune


@dataclass
class StreamSeen:
    uid: str
    labels: dict[str, str]
    title: str | None
    client: dict[str, int | str] = field(default_factory=dict)  # data.clientUserId / clientEntityData when set


WEBHOOK_KINDS = frozenset(FACTS)  # the kinds whose status changes are webhook events


def stream_of(kind: str, name: str, spec: Mapping[str, Any]) -> str:
    """The stream whose outbox an object's events go to: its own, its streamRef's, a Broadcast's first
    stream's (a broadcast's events are its lead stream's: one copy per subscription, not one per stream)."""
    if kind == "LiveStream":
        return name
    if kind == "Broadcast":
        return next(iter(stream_names(spec)), "")
    return str((spec.get("streamRef") or {}).get("name"))


def written_conditions(status: Mapping[str, Any]) -> list[Condition]:
    try:
        return [Condition.model_validate(c) for c in status.get("conditions") or []]
    except ValidationError:
        return []


@dataclass
class Notifier:
    state: OperatorState
    session: aiohttp.ClientSession
    store: OutboxStore = field(init=False)
    streams: dict[StreamKey, StreamSeen] = field(default_factory=dict)
    objects: dict[StreamKey, dict[tuple[str, str], Mapping[str, Any]]] = field(default_factory=dict)
    gone: dict[StreamKey, set[str]] = field(default_factory=dict)  # subjects deleted, to forget
    deleted_streams: set[StreamKey] = field(default_factory=set)
    deliveries: dict[str, SubscriptionDelivery] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _syncs: dict[StreamKey, asyncio.Task[None]] = field(default_factory=dict)
    _dirty: set[StreamKey] = field(default_factory=set)
    _pruner: asyncio.Task[None] | None = None
    _forgetting: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.store = OutboxStore(self.state)

    # --- watch events in ------------------------------------------------------------------------
    def observe(self, kind: str, type_: str | None, body: Mapping[str, Any]) -> None:
        if kind not in WEBHOOK_KINDS:
            return
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        stream = stream_of(kind, name, body.get("spec") or {})
        key = (namespace, stream)
        objects = self.objects.setdefault(key, {})
        if type_ == "DELETED":
            objects.pop((kind, name), None)
            self.gone.setdefault(key, set()).add(subject_of(kind, name))
            if kind == "LiveStream":
                self.streams.pop(key, None)
                self.deleted_streams.add(key)
        else:
            # (a copy: every object's status is kept, and the event's body, of which it is a part, goes)
            objects[kind, name] = plain(body.get("status") or {})
            if kind == "LiveStream":
                self.deleted_streams.discard(key)
                self.streams[key] = StreamSeen(
                    uid=str(meta.get("uid") or ""),
                    labels=dict(meta.get("labels") or {}),
                    title=(body.get("spec") or {}).get("title"),
                    client=client_fields(spec_client(body.get("spec"))),
                )
        if any(d.sub.namespace == namespace for d in self.deliveries.values()):
            self._schedule(key)

    def observe_subscription(self, type_: str | None, body: kopf.Body) -> None:
        uid = str(body.metadata.uid or "")
        sub = subscription_of(body) if type_ != "DELETED" else None
        namespace = body.metadata.namespace or ""
        delivery = self.deliveries.get(uid)
        if sub is None:
            if delivery is not None:
                self.deliveries.pop(uid)
                self._tasks.pop(uid).cancel()
                self._forget_subscription(namespace)
            return
        if delivery is None:
            status = body.get("status") or {}
            record = DeliveryRecord(
                delivered=int(status.get("delivered") or 0),
                expired=int(status.get("expired") or 0),
            )
            delivery = SubscriptionDelivery(sub, body, self.store, self.state, self.session, record)
            # Its conditions as written (a restarted operator neither moves their times nor posts
            # their Events again).
            delivery.conditions = written_conditions(status)
            self.deliveries[uid] = delivery
            self._tasks[uid] = asyncio.create_task(delivery.run(), name=f"webhook-{namespace}/{sub.name}")
            if self._pruner is None:
                self._pruner = asyncio.create_task(self._prune_forever(), name="webhook-prune")
        else:
            spec_changed = delivery.sub.spec != sub.spec
            delivery.changed(sub, body)
            if not spec_changed:
                return  # (its own status written, metadata): nothing to compare again
        self._schedule_namespace(namespace)

    # --- comparing and recording ----------------------------------------------------------------
    def _schedule_namespace(self, namespace: str) -> None:
        streams = {k for k in self.streams if k[0] == namespace}
        streams |= {k for k, _ in self.store.in_namespace(namespace)}
        for key in streams:
            self._schedule(key)

    def _schedule(self, key: StreamKey) -> None:
        """Compare the stream soon; while a comparison runs, once more after it (coalesced)."""
        if key in self._syncs:
            self._dirty.add(key)
            return
        self._syncs[key] = asyncio.create_task(self._sync_loop(key), name=f"webhook-sync-{key[1]}")

    async def _sync_loop(self, key: StreamKey) -> None:
        try:
            while True:
                self._dirty.discard(key)
                try:
                    await self._sync(key)
                except (ApiError, OSError) as e:
                    log.warning("webhook events of %s/%s not recorded yet: %s", *key, e)
                    await asyncio.sleep(1.0)
                    self._dirty.add(key)
                if key not in self._dirty:
                    return
        finally:
            self._syncs.pop(key, None)

    async def _sync(self, key: StreamKey) -> None:  # noqa: C901 (listed in ruff.toml: split it when next changed)
        namespace, stream = key
        await self.store.load(namespace)
        seen = self.streams.get(key)
        subs = [d.sub for d in self.deliveries.values() if d.sub.namespace == namespace]
        if seen is None and key not in self.deleted_streams:
            return  # not seen yet (the operator is starting): its facts stay as they are
        selecting = [s for s in subs if seen is not None and s.selects(seen.labels)]
        objects = dict(self.objects.get(key, {}))
        gone = set(self.gone.get(key, set()))
        now = datetime.now(UTC)

        def mutate(outbox: Outbox | None) -> Outbox | None:
            if not selecting:
                # No one listens: an outbox goes once drained (it would only hold stale facts).
                return None if outbox is not None and not outbox.events else outbox
            current = {subject_of(kind, name): (kind, name, status) for (kind, name), status in objects.items()}
            if outbox is None:  # newly selected: what is true now is the baseline, no events
                facts = {s: facts_of(kind, {"status": st}) for s, (kind, _, st) in current.items()}
                return Outbox(stream=stream, facts=facts)
            changes: dict[str, tuple[Facts | None, list[Change]]] = {}
            for subject, (kind, name, status) in current.items():
                old = outbox.facts.get(subject)
                new = facts_to_notify(kind, {"status": status}, old)
                if new != old:
                    changes[subject] = (new, changes_between(kind, name, old, new, status))
            for subject in gone - set(current):
                if subject in outbox.facts:
                    changes[subject] = (None, [])
            if not changes:
                return outbox
            wanted: dict[str, list[str]] = {}
            for _, kinds in changes.values():
                for change in kinds:
                    wanted[change.type] = [s.uid for s in selecting if s.wants(change.type)]
            title = seen.title if seen else None
            base: dict[str, Any] = {"namespace": namespace, "stream": stream, "streamTitle": title}
            base |= seen.client if seen else {}
            return recorded(outbox, namespace, seen.uid if seen else stream, changes, wanted, now, base)

        before = self.store.outboxes.get(key)
        after = await self.store.update(key, mutate)
        if gone and key in self.gone:
            self.gone[key] -= gone
        if key in self.deleted_streams and after is None:
            self.deleted_streams.discard(key)
            self.objects.pop(key, None)
        if after is not None and (before is None or after.seq != before.seq):
            for delivery in self.deliveries.values():
                if delivery.sub.namespace == namespace:
                    delivery.wake.set()

    # --- keeping outboxes bounded ---------------------------------------------------------------
    def _forget_subscription(self, namespace: str) -> None:
        task = asyncio.create_task(self._prune_namespace(namespace), name=f"webhook-forget-{namespace}")
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)

    async def _prune_namespace(self, namespace: str) -> None:
        live = {uid for uid, d in self.deliveries.items() if d.sub.namespace == namespace}
        for key, _ in self.store.in_namespace(namespace):
            lost: dict[str, int] = {}
            try:
                await self.store.update(key, _pruning(live, lost))
            except (ApiError, OSError) as e:
                log.warning("webhook outbox of %s/%s not pruned: %s", *key, e)
            for uid, count in lost.items():
                if uid in self.deliveries:
                    self.deliveries[uid].expired(count)
            self._schedule(key)  # an outbox left with no events and no listener goes

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_SECONDS)
            for namespace in {d.sub.namespace for d in self.deliveries.values()}:
                await self._prune_namespace(namespace)

    async def close(self) -> None:
        for task in [
            *self._tasks.values(),
            *self._syncs.values(),
            *self._forgetting,
            *([self._pruner] if self._pruner else []),
        ]:
            task.cancel()
        await self.session.close()

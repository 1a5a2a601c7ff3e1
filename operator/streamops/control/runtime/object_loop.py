"""How telemetry reaches status: one asyncio task per object (runtime/object_tasks.py) that every
`telemetry_interval_seconds` (0.5 s):

1. looks up the object's worker Pods in the pod index (kept by kopf from its Pod watch: no API call),
2. reads each Running worker's `/status` at the Pod's IP (one small HTTP request, keep-alive),
3. if any input changed since the last tick, computes the whole status with the kind's pure
   status function (`livestream_status`, `recording_status`, `restream_status`),
4. sends one merge patch of what differs from what it last wrote, and posts the Events the
   change implies. Changes of live metrics only (fps, bitrate, bytes, durations) are written at
   most every `metrics_write_seconds`, so a live stream does not turn into a write storm.

The same task reconciles the object: first thing, whenever its spec changed (generation), when
one of its Pods went away, and every `resync_seconds` (level-based safety net). This module is
the loop's state and its writes (ObjectLoop); a tick is observe → decide → act (tick.py,
decisions.py, docs/design/status-loops.md), and each kind's loop.py wires its own.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import kopf
from pydantic import BaseModel

from streamops.api.common import ConditionedStatus, spec_client_annotations
from streamops.api.kinds import Kind
from streamops.control.runtime import operator_metrics
from streamops.control.runtime.annotated_events import post_event
from streamops.control.runtime.decisions import with_status
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import ObjectKey, OperatorState
from streamops.control.runtime.status_patch import status_patch
from streamops.control.shared.conditions import Transition
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.ports import PortExhausted
from streamops.kube.manifests import Manifest, plain
from streamops.kube.naming import MANAGED_BY, MANAGED_BY_LABEL
from streamops.kube.threads import LATER

SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
RETRY_MAX_SECONDS = 60.0
RECONCILE_FAILED = "ReconcileFailed"  # the Warning Event of a failed reconcile (one per failure streak)
log = logging.getLogger("streamops.operator")


class Outcome(Protocol):
    """What a kind's reconcile returns (StreamOutcome, RecordingOutcome, RestreamOutcome): the
    generation it acted on, and the spec problem when it could not."""

    @property
    def generation(self) -> int | None: ...

    @property
    def invalid_spec(self) -> str | None: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome)
OutcomeT_co = TypeVar("OutcomeT_co", bound=Outcome, covariant=True)
ModelT = TypeVar("ModelT", bound=BaseModel)
Hints = Mapping[str, str | bool | None]  # what a reconcile is told from the indexes (see each kind's loop)


@dataclass(frozen=True)
class KindLoop(Generic[OutcomeT_co]):
    """What the generic loop needs of a kind (each kind's loop.py has one)."""

    api: Kind
    reconcile: Callable[..., OutcomeT_co]  # (api, settings, body, allocator, **hints) -> outcome
    status_model: type[ConditionedStatus]
    metric_fields: frozenset[str]  # status fields written at most every metrics_write_seconds
    # What a reconcile is told of the previous one's outcome (a Restream: the owner patch it sent).
    carried: Callable[[OutcomeT_co], Hints] | None = None
    # Its reconciles and status writes, when they queue for the API threads (api_threads.py).
    priority: int = LATER


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- writing status --------------------------------------------------------------------------------


@dataclass
class StatusWriter:
    """Remembers what it last wrote (the body kopf hands out may lag behind our own patches)."""

    kind: Kind
    namespace: str
    name: str
    written: Manifest
    metric_fields: frozenset[str]
    metrics_every: float
    priority: int = LATER
    last_write: float = 0.0

    async def write(
        self,
        state: OperatorState,
        body: kopf.Body,
        new: Manifest,
        events: list[Transition],
        annotations: Mapping[str, str] | None = None,
    ) -> bool:
        """True when nothing is left to write (written, or nothing changed). `annotations`: the
        Events' (the object's client fields, annotated_events.py)."""
        patch = status_patch(self.written, new)
        if patch is None:
            return True
        metrics_only = set(patch) <= self.metric_fields
        if metrics_only and time.monotonic() - self.last_write < self.metrics_every:
            return False
        written = await state.write_status_at(
            self.priority, state.api.patch_status, self.kind, self.namespace, self.name, patch
        )
        if not written:
            return True  # the object is gone
        self.written, self.last_write = new, time.monotonic()
        for e in events:
            await post_event(state, body, e.type, e.reason, e.message, annotations or {}, datetime.now(UTC))
        return True


class ObjectLoop(Generic[OutcomeT]):
    """Shared by every kind: reconciling when due, ticking, input fingerprint, status writing."""

    def __init__(self, state: OperatorState, kind: KindLoop[OutcomeT], obj: LiveObject) -> None:
        self.state, self.kind, self.obj = state, kind, obj
        body = obj.body
        self.namespace, self.name = body.metadata.namespace or "", body.metadata.name or ""
        self.key: ObjectKey = (kind.api.kind, self.namespace, self.name)
        self.writer = StatusWriter(
            kind.api,
            self.namespace,
            self.name,
            plain(obj.take_status()),
            kind.metric_fields,
            state.settings.telemetry.metrics_write_seconds,
            kind.priority,
        )
        self.outcome: OutcomeT | None = None  # the last reconcile's
        self.woken = state.waker(self.key)
        self.requested = False  # a reconcile was asked for (a Pod of the object went away)
        self.failures = 0
        self.retry_at = 0.0
        self.reconciles = 0  # reconciles that gave an outcome: a tick tells a new outcome by it
        self.write_pending = False  # the last status write was deferred (metrics only, too soon)
        self.again = False  # an action asks for the next tick at once (tick.py's Wake)
        self.hurried = False  # the last tick came at once: the next waits, whatever is asked
        self.sending: dict[str, asyncio.Task[None]] = {}  # worker requests in flight, by slot
        self.answered: dict[str, float] = {}  # Pod uid → when a waking request to it was answered (monotonic)
        self.force_deleted: set[str] = set()  # uids of lost Pods deleted for good (the index may lag)
        # The client fields its Events carry as annotations: its own spec's (LiveStream, Restream),
        # or what its loop sets (a Recording: its stream's).
        self.client_annotations: dict[str, str] | None = None
        period = state.settings.telemetry.resync_seconds
        self.next_resync = time.monotonic() + period * (0.5 + random.random())  # spread the load
        self.metric_kind = kind.api.singular  # the `kind` label of the operator's metrics
        self.owner = body.metadata.uid or "/".join(self.key)  # whose worker restarts it reports
        # The watch event its next reconcile answers (queue latency): the first one, to begin with.
        self._event_at, obj.unanswered_since = obj.unanswered_since, None
        operator_metrics.loop_started(self.metric_kind)

    @property
    def body(self) -> kopf.Body:
        """The object as its newest watch event showed it."""
        return self.obj.body

    @property
    def running(self) -> bool:
        """Until the object's DELETED event (its task is cancelled then, too)."""
        return not self.obj.gone

    def raw(self) -> Manifest:
        """The object as last seen, with the status this loop last wrote."""
        return with_status(self.body, self.writer.written)

    # --- reconciling (sync, in an API thread; serialised per object) ------------------------------

    def _reconcile_now(self, raw: Manifest, hints: Hints, event_at: float | None) -> OutcomeT | None:
        if raw["metadata"].get("deletionTimestamp"):
            return self.outcome  # going away: the garbage collector removes the children
        state = self.state
        with state.lock(self.key):
            started, ok = time.monotonic(), False
            if event_at is not None:
                operator_metrics.queued(self.metric_kind, started - event_at)
            try:
                try:
                    outcome = self.kind.reconcile(state.api, state.settings, raw, state.allocator, **hints)
                except PortExhausted:
                    state.seed_ports(SELECTOR)
                    outcome = self.kind.reconcile(state.api, state.settings, raw, state.allocator, **hints)
                ok = True
            finally:
                operator_metrics.reconciled(self.metric_kind, time.monotonic() - started, ok)
            self.outcome = outcome
            return outcome

    async def reconcile(self, **hints: str | bool | None) -> OutcomeT | None:
        carried = self.kind.carried(self.outcome) if self.kind.carried and self.outcome is not None else {}
        merged = {**carried, **hints}
        event_at, self._event_at = self._event_at, None
        # The status it last wrote, not an event's: kept bodies have none (object_tasks.kept), and
        # reconciles read it (a Recording's final status lets its recorder go, a live stream's
        # ingest waits to be idle before a restart, RestartPending meanwhile).
        return await self.state.call_at(self.kind.priority, self._reconcile_now, self.raw(), merged, event_at)

    def reconcile_due(self) -> bool:
        """Whether a reconcile is due: never done yet, the spec changed (metadata.generation), a Pod
        of the object went away (a request), or the resync period passed — and no failed one waits
        for its retry. (It takes the object's pending request and wake time from the state: a read
        that consumes, as a watch event is consumed.)"""
        self.requested |= self.state.take_reconcile_request(self.key)
        woken_at = self.state.take_woken_at(self.key)
        now = time.monotonic()
        stale = self.outcome is None or self.outcome.generation != self.body.metadata.get("generation")
        if not (stale or self.requested or now >= self.next_resync) or now < self.retry_at:
            return False
        if (stale or self.requested) and self._event_at is None:
            self._event_at = woken_at  # (a resync answers no event: no queue latency)
        return True

    async def reconcile_now(self, **hints: str | bool | None) -> OutcomeT | None:
        """Reconcile at once; a failed reconcile keeps the last outcome and is tried again after
        1, 2, 4 … 60 s (one Warning Event per failure streak)."""
        now = time.monotonic()
        stale = self.outcome is None or self.outcome.generation != self.body.metadata.get("generation")
        try:
            outcome = await self.reconcile(**hints)
        except Exception as e:  # the API refused or is unreachable: keep what was, try again later
            self.failures += 1
            delay = min(2.0 ** (self.failures - 1), RETRY_MAX_SECONDS)
            self.retry_at = now + delay
            log.warning("%s %s/%s: reconcile failed, again in %.0f s: %s", *self.key, delay, e)
            if self.failures == 1:
                await self.post_event("Warning", RECONCILE_FAILED, str(e)[:500])
            return self.outcome
        level = logging.INFO if stale else logging.DEBUG  # first look (created, operator restarted) or spec changed
        log.log(level, "%s %s/%s: reconciled (generation %s)", *self.key, outcome.generation if outcome else None)
        self.failures, self.retry_at, self.requested = 0, 0.0, False
        self.next_resync = now + self.state.settings.telemetry.resync_seconds
        self.reconciles += 1
        return outcome

    # --- ticking -----------------------------------------------------------------------------------

    @property
    def event_annotations(self) -> dict[str, str]:
        if self.client_annotations is not None:
            return self.client_annotations
        return spec_client_annotations(self.body.get("spec"))

    async def post_event(self, type_: str, reason: str, message: str) -> None:
        """One Event about the object (with its client fields as annotations)."""
        await post_event(self.state, self.body, type_, reason, message, self.event_annotations, datetime.now(UTC))

    async def write(self, new: Manifest, events: list[Transition]) -> None:
        written = await self.writer.write(self.state, self.body, new, events, self.event_annotations)
        self.write_pending = not written

    def resync_within(self, seconds: float) -> None:
        """Reconcile again no later than in `seconds`."""
        self.next_resync = min(self.next_resync, time.monotonic() + seconds)

    def send(self, slot: str, request: Coroutine[Any, Any, None]) -> None:
        """A worker request in the background, held by its slot until done (tick.py's WorkerRequest)."""
        self.sending[slot] = asyncio.get_running_loop().create_task(request)

    def in_flight(self) -> frozenset[str]:
        """The slots whose request is still in flight."""
        return frozenset(slot for slot, task in self.sending.items() if not task.done())

    def report_restarts(self, stream: str, pods: Mapping[str, Iterable[PodObservation | None]]) -> None:
        """The container restarts of the object's worker Pods, by worker (ingest, recorder, pusher);
        a worker none of whose Pods exists has no series."""
        counts: dict[str, int] = {}
        for worker, observed in pods.items():
            found = [p.restarts for p in observed if p is not None and p.exists]
            if found:
                counts[worker] = sum(found)
        operator_metrics.WORKER_RESTARTS.report(self.owner, self.namespace, stream, counts)

    def close(self) -> None:
        for task in self.sending.values():
            task.cancel()
        self.state.forget(self.key)
        operator_metrics.loop_stopped(self.metric_kind)
        operator_metrics.WORKER_RESTARTS.forget(self.owner)

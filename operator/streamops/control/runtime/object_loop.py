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
import contextlib
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
from streamops.control.runtime.decisions import invalid_spec_status, validated, with_status
from streamops.control.runtime.indexes import StreamFacts, StreamIndex, indexed_stream
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import ObjectKey, OperatorState
from streamops.control.runtime.status_patch import status_patch
from streamops.control.shared.conditions import WORKER_REPLACED, Transition
from streamops.control.workers.node_loss import NODE_LOST, force_delete_at, force_delete_due, node_lost_event
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.ports import PortExhausted
from streamops.control.workers.restarts import PodChange, restart_message
from streamops.kube.client import ApiError
from streamops.kube.manifests import Manifest, plain
from streamops.kube.naming import MANAGED_BY, MANAGED_BY_LABEL
from streamops.kube.threads import LATER

SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
RETRY_MAX_SECONDS = 60.0
SECRET_RETRY_SECONDS = 5.0  # a missing storage Secret is looked for again this often
RECONCILE_FAILED = "ReconcileFailed"  # the Warning Event of a failed reconcile (one per failure streak)
log = logging.getLogger("streamops.operator")


class Outcome(Protocol):
    """What a kind's reconcile returns (StreamOutcome, RecordingOutcome, RestreamOutcome): the
    generation it acted on, and the spec problem when it could not."""

    @property
    def generation(self) -> int | None: ...

    @property
    def invalid_spec(self) -> str | None: ...


class FollowerOutcome(Outcome, Protocol):
    """The outcome of a kind that follows a stream (RecordingOutcome, RestreamOutcome)."""

    @property
    def waiting_for_stream(self) -> bool: ...

    @property
    def stream_uid(self) -> str | None: ...


class StoringOutcome(FollowerOutcome, Protocol):
    """The outcome of a kind whose worker stores videos (RecordingOutcome, ClipOutcome)."""

    @property
    def storage_refused(self) -> object | None: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome)
OutcomeT_co = TypeVar("OutcomeT_co", bound=Outcome, covariant=True)
FollowerT = TypeVar("FollowerT", bound=FollowerOutcome)
StoringT = TypeVar("StoringT", bound=StoringOutcome)
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
        self.last_inputs: object = None
        self.woken = state.waker(self.key)
        self.requested = False  # a reconcile was asked for (a Pod of the object went away)
        self.hints: Hints = {}  # what the reconciler is told from the indexes (see the kind's loop)
        self.failures = 0
        self.retry_at = 0.0
        self.reconciles = 0  # reconciles that gave an outcome: a tick tells a new outcome by it
        self.write_pending = False  # the last status write was deferred (metrics only, too soon)
        self.again = False  # an action asks for the next tick at once (tick.py's Wake)
        self.hurried = False  # the last tick came at once: the next waits, whatever is asked
        self.sending: dict[str, asyncio.Task[None]] = {}  # worker requests in flight, by slot
        self.force_deleted: set[str] = set()  # uids of lost Pods deleted for good (the index may lag)
        self._announced: OutcomeT | None = None  # the outcome whose replaced worker Pods have had their Event
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

    def previous_status(self, raw: Manifest, model: type[ModelT]) -> ModelT | None:
        """The status last written, as the kind's model (None on the first visit)."""
        previous = validated(model, raw["status"])
        return previous if raw["status"] else None

    def valid_object(self, raw: Manifest, model: type[ModelT], outcome: Outcome) -> ModelT | None:
        """The object as its model; None when the reconcile or the model rejects its spec."""
        return None if outcome.invalid_spec else validated(model, raw)

    def invalid_spec_status(self, raw: Manifest, outcome: Outcome, fallback: str = "") -> Manifest:
        """The status of an object whose spec the operator cannot use (conditions only)."""
        message = outcome.invalid_spec or fallback
        return invalid_spec_status(raw, message, utcnow(), self.kind.status_model).wire()

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
        merged = {**self.hints, **carried, **hints}
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

    async def reconciled(self, **hints: str | bool | None) -> OutcomeT | None:
        """The object's reconcile outcome, reconciling first when due (reconcile_due)."""
        if not self.reconcile_due():
            return self.outcome
        return await self.reconcile_now(**hints)

    # --- ticking -----------------------------------------------------------------------------------

    def changed(self, inputs: object) -> bool:
        """Whether the status inputs differ from the last tick's. They name the object by its
        generation, not its resourceVersion: the watch event of the loop's own status write (and of
        any metadata change) would otherwise recompute an unchanged status."""
        if inputs == self.last_inputs:
            return False
        self.last_inputs = inputs
        return True

    @property
    def event_annotations(self) -> dict[str, str]:
        if self.client_annotations is not None:
            return self.client_annotations
        return spec_client_annotations(self.body.get("spec"))

    async def announce_replaced(self, outcome: OutcomeT, changes: Mapping[str, tuple[str, PodChange]]) -> None:
        """A Normal Event for each worker Pod `outcome`'s reconcile replaced (`changes`: worker →
        (Pod name, change)), once per reconcile: a tick that reuses the outcome says nothing again."""
        if outcome is self._announced:
            return
        self._announced = outcome
        for worker, (pod, change) in changes.items():
            if change.action == "replace":
                await self.post_event("Normal", WORKER_REPLACED, restart_message(worker, pod, change))

    async def post_event(self, type_: str, reason: str, message: str) -> None:
        """One Event about the object (with its client fields as annotations)."""
        await post_event(self.state, self.body, type_, reason, message, self.event_annotations, datetime.now(UTC))

    async def write(self, new: Manifest, events: list[Transition]) -> None:
        written = await self.writer.write(self.state, self.body, new, events, self.event_annotations)
        self.write_pending = not written
        if not written:
            self.last_inputs = None  # deferred metrics: try again next tick

    def resync_within(self, seconds: float) -> None:
        """Reconcile again no later than in `seconds`."""
        self.next_resync = min(self.next_resync, time.monotonic() + seconds)

    def send(self, slot: str, request: Coroutine[Any, Any, None]) -> None:
        """A worker request in the background, held by its slot until done (tick.py's WorkerRequest)."""
        self.sending[slot] = asyncio.get_running_loop().create_task(request)

    def in_flight(self) -> frozenset[str]:
        """The slots whose request is still in flight."""
        return frozenset(slot for slot, task in self.sending.items() if not task.done())

    async def remove_lost_pods(self, *pods: PodObservation | None) -> None:
        """Worker Pods of this object lost with their node (still terminating past their deadline,
        workers/node_loss.py) are deleted for good, only that uid, and a Warning NodeLost Event
        names the node; the object reconciles next, which creates them again where they can run."""
        now = datetime.now(UTC)
        margin = self.state.settings.node_loss.force_delete_seconds
        grace = self.state.settings.node_loss.grace_seconds
        for pod in pods:
            if pod is None or pod.uid in self.force_deleted or not force_delete_due(pod, now, margin, grace):
                continue
            try:
                await self.state.call(self.state.api.delete, "Pod", self.namespace, pod.name, pod.uid, 0)
            except (ApiError, OSError) as e:
                log.warning("%s %s/%s: force-deleting lost Pod %s failed: %s", *self.key, pod.name, e)
                continue
            log.warning("%s %s/%s: Pod %s lost with node %s: deleted for good", *self.key, pod.name, pod.node)
            self.force_deleted = {*list(self.force_deleted)[-7:], pod.uid}  # a few are enough: uids never repeat
            await self.post_event("Warning", NODE_LOST, node_lost_event(pod, now))
            self.requested = True
            self.woken.set()

    async def sleep(self, *pods: PodObservation | None) -> None:
        """Until the next tick, or until woken (the object or one of its Pods changed): short while
        a worker runs (its telemetry is read every tick), longer while there is nothing to read, and
        no later than when a terminating Pod counts as lost with its node. `running` is
        checked by the loop, and a deleted object's task is cancelled anyway (object_tasks.py)."""
        settings = self.state.settings
        polling = any(pod is not None and pod.status_url for pod in pods)
        timeout = settings.telemetry.interval_seconds if polling else settings.telemetry.idle_interval_seconds
        if self.retry_at:
            timeout = max(0.0, min(timeout, self.retry_at - time.monotonic()))
        now = datetime.now(UTC)
        for pod in pods:
            lost_at = (
                force_delete_at(pod, settings.node_loss.force_delete_seconds, settings.node_loss.grace_seconds)
                if pod is not None
                else None
            )
            if lost_at is not None and lost_at > now:  # (one already due was handled by remove_lost_pods)
                timeout = min(timeout, (lost_at - now).total_seconds() + 0.1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # (not wait_for: no task of its own per tick)
                await self.woken.wait()
        self.woken.clear()

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


async def follow_stream(
    loop: ObjectLoop[FollowerT], streams: StreamIndex, outcome: FollowerT
) -> tuple[StreamFacts | None, FollowerT]:
    """Recording and Restream: their stream from the index, and the outcome, reconciled again at
    once when the stream they wait for appears or was replaced by a new object (another uid)."""
    stream_ref = (loop.body.spec.get("streamRef") or {}).get("name", "")
    loop.state.follow(loop.key, loop.namespace, stream_ref)
    stream = indexed_stream(streams, loop.namespace, stream_ref)
    if stream is not None and (outcome.waiting_for_stream or (outcome.stream_uid and stream.uid != outcome.stream_uid)):
        return stream, await loop.reconcile() or outcome
    return stream, outcome


async def follow_storing_stream(
    loop: ObjectLoop[StoringT], streams: StreamIndex, outcome: StoringT
) -> tuple[StreamFacts | None, StoringT]:
    """follow_stream, for a kind whose worker stores videos (Recording, Clip): its Events carry its
    stream's client fields (kept once the stream is gone), and a missing storage Secret is looked
    for again every SECRET_RETRY_SECONDS (it may be created any time)."""
    stream, outcome = await follow_stream(loop, streams, outcome)
    if stream is not None:
        loop.client_annotations = dict(stream.client_annotations)
    if outcome.storage_refused:
        loop.next_resync = min(loop.next_resync, time.monotonic() + SECRET_RETRY_SECONDS)
    return stream, outcome

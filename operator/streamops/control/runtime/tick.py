"""The status loops' shape: observe → decide → act, in cert-manager's manner (a gatherer, an ordered
chain of small pure policies, the writes).

A kind gives a `KindTick`: `observe` reads (the indexes, its workers' /status, the object as last
seen, `loop_facts`) into a typed observation; `decide(observed, memory)` is pure (decisions.py: no
await, no I/O, no clock — the clocks come in the observation) and returns the actions to take, in
order, and its next typed memory (what it decided before: a request sent and when, a report
already acted on); `act` here performs them — the generic actions of decisions.py and a handover's
Pod writes, and the kind's own (S3 deletions, a signed command) through the kind's `perform`. A
kind's loop.py is wiring: `run_tick_loop(state, KIND_LOOP, obj, tick)`. Reasoning: docs/design/status-loops.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from streamops.control.runtime.decisions import (
    ForceDelete,
    LoopFacts,
    PostEvent,
    Reconcile,
    ResyncWithin,
    Say,
    Wake,
    WorkerRequest,
    WriteStatus,
)
from streamops.control.runtime.handover_steps import DeletePod, PatchPod
from streamops.control.runtime.handover_writes import handover_write
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop, OutcomeT
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.workers.node_loss import NODE_LOST, node_lost_event
from streamops.control.workers.worker_client import worker_request
from streamops.kube.client import ApiError

log = logging.getLogger("streamops.operator")
ObservedT = TypeVar("ObservedT")
MemoryT = TypeVar("MemoryT")


class KindTick(ABC, Generic[OutcomeT, ObservedT, MemoryT]):
    """What a kind gives the loop (see the module's docstring)."""

    @abstractmethod
    def memory(self) -> MemoryT:
        """The memory of a loop that starts."""

    @abstractmethod
    async def observe(self, loop: ObjectLoop[OutcomeT], memory: MemoryT) -> ObservedT:
        """Every read of the tick: the loop's facts first (loop_facts: whether a reconcile is due)."""

    @abstractmethod
    def decide(self, observed: ObservedT, memory: MemoryT) -> tuple[Sequence[object], MemoryT]:
        """Pure: the actions, in order, and the next memory."""

    async def perform(self, loop: ObjectLoop[OutcomeT], action: object) -> None:
        """The kind's own actions (act performs the generic ones itself)."""
        raise TypeError(f"{loop.kind.api.kind} has no action {action!r}")

    def close(self, loop: ObjectLoop[OutcomeT]) -> None:
        """When the loop ends: what the kind holds open beside the loop."""


def loop_facts(loop: ObjectLoop[Any]) -> LoopFacts:
    """The loop's own facts for a kind's observe; asks whether a reconcile is due (once a tick:
    it takes the object's pending reconcile request)."""
    due = loop.reconcile_due()
    monotonic = time.monotonic()
    return LoopFacts(
        namespace=loop.namespace,
        name=loop.name,
        generation=loop.body.metadata.get("generation"),
        reconcile_due=due,
        reconciles=loop.reconciles,
        retry_in=loop.retry_at - monotonic if loop.retry_at else None,
        write_pending=loop.write_pending,
        force_deleted=frozenset(loop.force_deleted),
        in_flight=loop.in_flight(),
        now=datetime.now(UTC),
        monotonic=monotonic,
        settings=loop.state.settings,
    )


async def act(loop: ObjectLoop[OutcomeT], actions: Sequence[object], tick: KindTick[OutcomeT, Any, Any]) -> None:
    """Perform `actions` in order. A tick that decided no Wake waits as an idle one does: a decide
    that forgot it must not spin."""
    woke = False
    for action in actions:
        match action:
            case Reconcile(hints=hints):
                before = loop.reconciles
                await loop.reconcile_now(**dict(hints))
                loop.again = loop.again or loop.reconciles != before
            case WorkerRequest():
                await request(loop, action)
            case ForceDelete(pod=pod, now=now):
                await force_delete(loop, pod.name, pod.uid, pod.node, node_lost_event(pod, now))
            case PostEvent(type=type_, reason=reason, message=message):
                await loop.post_event(type_, reason, message)
            case WriteStatus(status=status, events=events):
                await loop.write(status, list(events))
            case ResyncWithin(seconds=seconds):
                loop.resync_within(seconds)
            case Say(text=text):
                log.info("%s %s/%s: %s", *loop.key, text)
            case Wake(timeout=timeout):
                await wait(loop, timeout)
                woke = True
            case PatchPod() | DeletePod():  # a worker handover's Pod writes (the ingest's, pusher's, recorder's)
                await handover_write(loop, action)
            case _:
                await tick.perform(loop, action)
    if not woke:
        await wait(loop, loop.state.settings.telemetry.idle_interval_seconds)


async def request(loop: ObjectLoop[Any], action: WorkerRequest) -> None:
    client = loop.state.client
    if client is None or action.slot in loop.in_flight():
        return
    headers = await loop.state.worker_headers(loop.namespace, action.stream)
    sent = worker_request(client, action.pod, action.method, action.path, action.body, headers)
    loop.send(action.slot, answered_then_woken(loop, action.pod.uid, sent) if action.wake else sent)


async def answered_then_woken(loop: ObjectLoop[Any], pod_uid: str, sent: Coroutine[Any, Any, None]) -> None:
    """The request, then the loop woken with the answer's time noted (WorkerRequest.wake)."""
    await sent
    recent = list(loop.answered.items())[-7:]  # a few Pods are enough: uids never repeat
    loop.answered = {**dict(recent), pod_uid: time.monotonic()}
    loop.woken.set()


async def force_delete(loop: ObjectLoop[Any], name: str, uid: str, node: str | None, event: str) -> None:
    try:
        await loop.state.call(loop.state.api.delete, "Pod", loop.namespace, name, uid, 0)
    except (ApiError, OSError) as e:
        log.warning("%s %s/%s: force-deleting lost Pod %s failed: %s", *loop.key, name, e)
        return
    log.warning("%s %s/%s: Pod %s lost with node %s: deleted for good", *loop.key, name, node)
    loop.force_deleted = {*list(loop.force_deleted)[-7:], uid}  # a few are enough: uids never repeat
    await loop.post_event("Warning", NODE_LOST, event)
    loop.requested = loop.again = True


async def wait(loop: ObjectLoop[Any], timeout: float) -> None:
    """Until the next tick or until woken; at once, once, after an action asked for it."""
    if loop.again and not loop.hurried:
        loop.again, loop.hurried = False, True
        return
    loop.again = loop.hurried = False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):  # (not wait_for: no task of its own per tick)
            await loop.woken.wait()
    loop.woken.clear()


async def run_tick_loop(
    state: OperatorState, kind: KindLoop[OutcomeT], obj: LiveObject, tick: KindTick[OutcomeT, ObservedT, MemoryT]
) -> None:
    """The status loop of one object: observe → decide → act until it is deleted (or the operator
    stops: its task is cancelled)."""
    loop = ObjectLoop(state, kind, obj)
    memory = tick.memory()
    try:
        while loop.running:
            observed = await tick.observe(loop, memory)
            actions, memory = tick.decide(observed, memory)
            await act(loop, actions, tick)
    finally:
        tick.close(loop)
        loop.close()

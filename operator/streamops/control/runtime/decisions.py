"""What a status loop's decide returns, and the policies every kind's decide uses: pure (no await,
no I/O, no clock; the import rules keep the Kubernetes client out of reach). The loop runtime
(tick.py) observes, calls the kind's decide, and performs these actions in order.

Actions are frozen dataclasses, compared by value in tests. What an action did that a later
decision needs (a lost Pod deleted, a status write deferred, a request in flight, a reconcile's
new outcome) is kept by the loop and observed again (`LoopFacts`): a decide never learns an
action's result any other way. Reasoning: docs/design/status-loops.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from streamops.api.common import ConditionedStatus
from streamops.control.shared.conditions import (
    INVALID_SPEC,
    READY,
    STALLED,
    WORKER_REPLACED,
    Observed,
    Transition,
    merge_conditions,
)
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.node_loss import force_delete_at, force_delete_due
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.restarts import PodChange, restart_message
from streamops.kube.manifests import Body, Manifest, plain

HintValue = str | bool | None
ModelT = TypeVar("ModelT", bound=BaseModel)
OutcomeT = TypeVar("OutcomeT")


@dataclass(frozen=True)
class LoopFacts:
    """What every decide reads about its own loop: the object's generation, whether a reconcile is
    due and how many have given an outcome, and what earlier actions left."""

    namespace: str
    name: str
    generation: int | None
    reconcile_due: bool
    reconciles: int  # reconciles that gave an outcome so far: a new one is a new outcome
    retry_in: float | None  # seconds until a failed reconcile is tried again
    write_pending: bool  # the last status write was deferred (metrics only, too soon): write again
    force_deleted: frozenset[str]  # uids of lost Pods already deleted for good
    in_flight: frozenset[str]  # the worker request slots whose request is still in flight
    now: datetime  # the wall clock (Pods' deadlines)
    monotonic: float  # the monotonic clock (intervals between requests)
    settings: OperatorSettings

    @property
    def stamp(self) -> datetime:
        """`now` to the second, as status times are written."""
        return self.now.replace(microsecond=0)


# --- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconcile:
    """Reconcile now, telling the reconciler `hints` (what the indexes say: a standby Pod, a
    worker's report). The loop ticks again at once after it, with the new outcome."""

    hints: tuple[tuple[str, HintValue], ...] = ()

    @staticmethod
    def of(hints: Mapping[str, HintValue]) -> Reconcile:
        return Reconcile(tuple(sorted(hints.items())))


@dataclass(frozen=True)
class WorkerRequest:
    """One request to a worker's control API (POST /start, PUT /targets …), presenting the worker
    credential of `stream`; sent in the background, never awaited by the tick (a stuck worker
    holds up nothing). A request whose `slot` still has one in flight is not sent: the worker's
    next /status shows whether the first took, and the next tick decides again. `body` may hold
    keys (a pusher's targets): it is never printed."""

    pod: PodObservation
    method: Literal["POST", "PUT"]
    path: str
    stream: str
    slot: str
    body: bytes = field(default=b"", repr=False)
    # Its answer wakes the loop, whose next read of the Pod's /status is not one made before the
    # answer: a step that waits for the worker to have taken the request (a pusher's release in a
    # handover) follows at once rather than a tick or two later.
    wake: bool = False


@dataclass(frozen=True)
class ForceDelete:
    """A worker Pod lost with its node (workers/node_loss.py): deleted for good, that uid only; on
    success a Warning NodeLost Event names the node and the object reconciles next."""

    pod: PodObservation
    now: datetime


@dataclass(frozen=True)
class PostEvent:
    """One Event about the object (with its client fields as annotations)."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class WriteStatus:
    """The status patch (what differs from what the loop last wrote), then the Events it implies.
    A write of live metrics only may be deferred (metrics_write_seconds): `write_pending` then.
    Compared by `inputs` (what the status was computed from), not by the dict it is."""

    status: Manifest = field(compare=False, repr=False)
    events: tuple[Transition, ...] = ()
    inputs: object = None


@dataclass(frozen=True)
class ResyncWithin:
    """Reconcile again no later than in `seconds` (a missing Secret is looked for again soon:
    Secrets are not watched)."""

    seconds: float


@dataclass(frozen=True)
class Wake:
    """The tick's last action: wait `timeout` seconds, or until woken (the object or one of its
    Pods changed). After a reconcile that gave a new outcome, or a lost Pod deleted, the next tick
    comes at once instead — once: a reconcile that keeps being due waits as ever."""

    timeout: float


@dataclass(frozen=True)
class Say:
    """A decision logged at INFO with the object's key (its decider says it once per change, not
    every tick). Names and steps only: never a key or token."""

    text: str


Action = Reconcile | WorkerRequest | ForceDelete | PostEvent | WriteStatus | ResyncWithin | Wake | Say


@dataclass(frozen=True)
class SpecOutcome:
    """The reconcile outcome of a kind that makes nothing (Broadcast, QualitySet): the generation
    it read, and the problem with its spec when the operator cannot use it."""

    generation: int | None
    invalid_spec: str | None = None


@dataclass(frozen=True)
class StatusInputs:
    """What a status was last computed from (a decide's memory): an unchanged tick writes nothing."""

    inputs: object = None


# --- the policies every kind uses ----------------------------------------------------------------


def with_status(body: Mapping[str, Any], written: Manifest) -> Manifest:
    """The object as plain data with the status the loop last wrote (kopf's body may lag behind
    the loop's own patches): what a status is computed from."""
    raw: Manifest = plain(body)
    raw["status"] = written
    return raw


def validated(model: type[ModelT], raw: Manifest) -> ModelT | None:
    """The object as its model, None when the model rejects it."""
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def invalid_spec_status(raw: Body, message: str, now: datetime, model: type[ConditionedStatus]) -> ConditionedStatus:
    """A spec the API server let through but the operator cannot use (e.g. a CRD older than the
    operator): say so instead of retrying forever. Only conditions: nothing else is observed.
    `model` is the kind's status model, which reads the previous status (and its conditions)."""
    previous = model.model_validate(raw.get("status") or {})
    generation = raw.get("metadata", {}).get("generation")
    observed = [Observed(t, "True" if t == STALLED else "False", INVALID_SPEC, message) for t in (READY, STALLED)]
    return ConditionedStatus(
        observed_generation=generation, conditions=merge_conditions(previous.conditions, observed, generation, now)
    )


def reconcile_if_due(facts: LoopFacts, hints: Mapping[str, HintValue]) -> list[Reconcile]:
    """A reconcile when one is due (never done, the spec changed, a Pod went away, the resync)."""
    return [Reconcile.of(hints)] if facts.reconcile_due else []


def lost_pods(facts: LoopFacts, pods: Iterable[PodObservation | None]) -> list[ForceDelete]:
    """One force-delete for each worker Pod lost with its node and not deleted yet."""
    margin = facts.settings.node_loss.force_delete_seconds
    grace = facts.settings.node_loss.grace_seconds
    return [
        ForceDelete(pod, facts.now)
        for pod in pods
        if pod is not None and pod.uid not in facts.force_deleted and force_delete_due(pod, facts.now, margin, grace)
    ]


def replaced_events(changes: Mapping[str, tuple[str, PodChange]]) -> list[PostEvent]:
    """A Normal Event for each worker Pod a reconcile replaced (worker → (Pod name, change)); a
    decide sends them once per reconcile (by `LoopFacts.reconciles`)."""
    return [
        PostEvent("Normal", WORKER_REPLACED, restart_message(worker, pod, change))
        for worker, (pod, change) in changes.items()
        if change.action == "replace"
    ]


def status_due(facts: LoopFacts, inputs: object, last: object) -> bool:
    """Whether the status is to be computed and written: its inputs differ from the last tick's
    (they name the object by generation, not resourceVersion: the loop's own write must not
    recompute it), or the last write was deferred."""
    return facts.write_pending or inputs != last


def status_only(
    facts: LoopFacts,
    outcome: OutcomeT | None,
    seen: object,
    memory: StatusInputs,
    update: Callable[[OutcomeT], Manifest],
) -> tuple[list[Action], StatusInputs]:
    """The decide of a kind that runs no worker (Broadcast, QualitySet): reconcile when due (the
    next tick comes at once, with its outcome), else the status from `update` when the spec, the
    outcome or what it is made of (`seen`) changed; then the idle wake."""
    actions: list[Action] = [*reconcile_if_due(facts, {})]
    if not actions and outcome is not None:
        inputs = (facts.generation, outcome, seen)
        if status_due(facts, inputs, memory.inputs):
            actions.append(WriteStatus(update(outcome), inputs=inputs))
            memory = StatusInputs(inputs)
    return [*actions, wake(facts, ())], memory


def wake(facts: LoopFacts, pods: Iterable[PodObservation | None]) -> Wake:
    """The next tick: soon while a worker runs (its telemetry is read every tick), later while
    there is nothing to read, no later than a failed reconcile's retry, nor than a terminating Pod
    counts as lost with its node."""
    settings = facts.settings
    observed = [pod for pod in pods if pod is not None]
    polling = any(pod.status_url for pod in observed)
    timeout = settings.telemetry.interval_seconds if polling else settings.telemetry.idle_interval_seconds
    if facts.retry_in is not None:
        timeout = max(0.0, min(timeout, facts.retry_in))
    for pod in observed:
        lost_at = force_delete_at(pod, settings.node_loss.force_delete_seconds, settings.node_loss.grace_seconds)
        if lost_at is not None and lost_at > facts.now:  # (one already due is deleted this tick)
            timeout = min(timeout, (lost_at - facts.now).total_seconds() + 0.1)
    return Wake(timeout)

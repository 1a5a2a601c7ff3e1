"""A Restream's decide (pure: runtime/decisions.py): from what its status loop observed (its stream's
shared pusher Pod, that pusher's /status, the stream's facts, its last reconcile's outcome) and its
memory, the actions of the tick, by an ordered chain of small policies:

1. a lost pusher Pod deleted for good, a reconcile when due (and nothing else: the next tick comes
   at once, with the new outcome);
2. a reconcile at once when the stream it waits for appears, or was made again (another uid),
   unless the outcome is new this tick (its reconcile saw the stream as it is);
3. the WorkerReplaced Event of a pusher Pod the last reconcile replaced, once per reconcile;
4. a missing or refused target-key Secret looked for again within KEY_RETRY_SECONDS;
5. the pusher's container restarts reported (the operator's metrics);
6. during a handover of the pusher (handover.py): its step (the predecessor lets go, the successor
   is sent the set, the predecessor goes) instead of 7;
7. the stream's set of targets sent (PUT /targets) when the pusher runs another set, at most every
   SEND_AGAIN_SECONDS and each reconcile's set once: a set sent that the pusher no longer runs is
   planned again first (docs/design/shared-pusher.md, "send");
8. the status and its Events, when what they are computed from changed (this target's telemetry
   from the successor once it runs it);
9. the target's failure streak into its one aggregated RestreamBackoff Event (backoff_event.py);
10. a reconcile when the pusher that waits for its restart is idle, or when a held handover may be
   tried again; the next wake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from streamops.api import Restream, RestreamStatus
from streamops.api.common import spec_client_annotations
from streamops.contract.pusher import TARGETS_PATH, PusherSetStatus, PusherStatus
from streamops.control.restream.backoff_event import (
    FailureStreak,
    RestreamRef,
    WriteBackoffEvent,
    WrittenSeries,
    event_name,
    next_write,
)
from streamops.control.restream.handover import PusherPair, pusher_handover
from streamops.control.restream.outcome import RestreamOutcome
from streamops.control.restream.specs.names import shared_pusher_pod_name
from streamops.control.restream.status import PusherObservation, restream_events, restream_status
from streamops.control.runtime.decisions import (
    LoopFacts,
    Reconcile,
    ResyncWithin,
    WorkerRequest,
    WriteStatus,
    invalid_spec_status,
    lost_pods,
    reconcile_if_due,
    replaced_events,
    status_due,
    validated,
    wake,
    with_status,
)
from streamops.control.runtime.handover_steps import HandoverMemory
from streamops.control.runtime.indexes import StreamFacts
from streamops.control.shared.conditions import Transition
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.manifests import Manifest

KEY_RETRY_SECONDS = 5.0  # a missing target-key Secret is looked for again this often (Secrets are not watched)
SEND_AGAIN_SECONDS = 2.0  # a pusher that still runs another set after a PUT /targets is sent it again
TARGETS_SLOT = "targets"  # the WorkerRequest slot of PUT /targets


@dataclass(frozen=True)
class ReportRestarts:
    """The pusher Pod's container restarts, as the operator's metric (runtime/operator_metrics.py)."""

    stream: str
    pod: PodObservation | None


@dataclass(frozen=True)
class RestreamObserved:
    facts: LoopFacts
    outcome: RestreamOutcome | None  # the last reconcile's (None: never reconciled yet)
    body: Mapping[str, Any] = field(compare=False, repr=False)  # the Restream as last seen (kopf's read-only view)
    written: Manifest = field(compare=False, repr=False)  # the status the loop last wrote
    uid: str = ""
    stream_ref: str = ""
    pod: PodObservation | None = None  # the stream's shared pusher Pod (the pod index)
    stream: StreamFacts | None = None  # the stream (the stream index)
    running: PusherSetStatus | None = None  # the pusher's /status: the set it runs (None: not read)
    event: WrittenSeries = field(default_factory=WrittenSeries)  # what the loop last wrote of the backoff Event
    successor: PodObservation | None = None  # in a handover (handover.py): the successor Pod
    successor_running: PusherSetStatus | None = None  # ... and its /status

    @property
    def telemetry(self) -> PusherStatus | None:
        """This Restream's target in the pusher's set (in a handover: the successor's, once it runs it)."""
        for running in (self.successor_running, self.running):
            found = running.of(self.uid) if running is not None else None
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class RestreamMemory:
    """What the loop decided before."""

    status_inputs: object = None  # what the status was last computed from
    announced: int = 0  # the reconcile (LoopFacts.reconciles) whose replaced Pod was announced
    sent_at: float | None = None  # when the set was last sent (monotonic)
    sent_with: int | None = None  # the reconcile whose set was sent last
    seen_reconciles: int = 0  # LoopFacts.reconciles at the last tick that had an outcome
    handover: HandoverMemory = field(default_factory=HandoverMemory)


Decision = tuple[list[Any], RestreamMemory]


def decide(observed: RestreamObserved, memory: RestreamMemory) -> Decision:
    facts, outcome, pod = observed.facts, observed.outcome, observed.pod
    first: list[Any] = [*lost_pods(facts, [pod]), *reconcile_if_due(facts, {})]
    if outcome is None:
        return [*first, wake(facts, [])], memory
    # Said first: a reconcile due at once (the replaced Pod's DELETED event asks for one) must not pass over it.
    announced, memory = announce_replaced(observed, outcome, memory)
    if first:
        return [*announced, *first, wake(facts, [pod])], memory
    # An outcome the last tick did not have already saw the stream as it is (its reconcile just ran).
    fresh, memory = facts.reconciles != memory.seen_reconciles, replace(memory, seen_reconciles=facts.reconciles)
    if not fresh and follows_a_new_stream(observed.stream, outcome):
        return [*announced, Reconcile(), wake(facts, [pod])], memory
    actions: list[Any] = [*announced]
    for policy in (look_for_the_key, report_restarts, hand_over, send_targets, write_status, backoff):
        more, memory = policy(observed, outcome, memory)
        actions += more
    # A reconcile asked for goes last (once): this tick's status and Event are written first, as
    # the next tick's would be with the new outcome.
    again = [a for a in actions if isinstance(a, Reconcile)] + restart_when_idle(observed, outcome)
    pods = [pod, observed.successor]
    return [*(a for a in actions if not isinstance(a, Reconcile)), *again[:1], wake(facts, pods)], memory


def follows_a_new_stream(stream: StreamFacts | None, outcome: RestreamOutcome) -> bool:
    """The stream it waits for appeared, or was deleted and made again (another uid)."""
    if stream is None:
        return False
    return outcome.waiting_for_stream or bool(outcome.stream_uid and stream.uid != outcome.stream_uid)


def announce_replaced(observed: RestreamObserved, outcome: RestreamOutcome, memory: RestreamMemory) -> Decision:
    reconciles = observed.facts.reconciles
    if memory.announced == reconciles:
        return [], memory
    pod_name = shared_pusher_pod_name(observed.stream_ref)
    return [*replaced_events({"pusher": (pod_name, outcome.pod_change)})], replace(memory, announced=reconciles)


def look_for_the_key(observed: RestreamObserved, outcome: RestreamOutcome, memory: RestreamMemory) -> Decision:
    if outcome.key_secret_missing or outcome.key_secret_refused:
        return [ResyncWithin(KEY_RETRY_SECONDS)], memory
    return [], memory


def report_restarts(observed: RestreamObserved, outcome: RestreamOutcome, memory: RestreamMemory) -> Decision:
    return [ReportRestarts(observed.stream_ref, observed.pod)], memory


def hand_over(observed: RestreamObserved, outcome: RestreamOutcome, memory: RestreamMemory) -> Decision:
    """The step of the pusher's handover to its successor, when one is under way (handover.py)."""
    pod, successor, facts = observed.pod, observed.successor, observed.facts
    if pod is None or successor is None:
        return [], memory
    pair = PusherPair(pod, successor, observed.running, observed.successor_running)
    moving = observed.stream is not None and observed.stream.handing_over
    actions, _, handover = pusher_handover(
        pair, outcome.targets, observed.stream_ref, facts.now, facts.monotonic, facts.in_flight, memory.handover, moving
    )
    return list(actions), replace(memory, handover=handover)


def send_targets(observed: RestreamObserved, outcome: RestreamOutcome, memory: RestreamMemory) -> Decision:
    """PUT /targets while the pusher runs another set than the last reconcile planned (it started
    or restarted with none, or a Restream of the stream changed); not during a handover (its steps
    send the sets)."""
    facts, running, wanted, pod = observed.facts, observed.running, outcome.targets, observed.pod
    if observed.successor is not None:
        return [], memory
    if pod is None or running is None or wanted is None or running.versions() == wanted.versions():
        return [], memory
    if TARGETS_SLOT in facts.in_flight:
        return [], memory  # its answer is the next /status
    if memory.sent_at is not None and facts.monotonic - memory.sent_at <= SEND_AGAIN_SECONDS:
        return [], memory
    if memory.sent_with == facts.reconciles:
        # Sent, and the pusher runs another set still: a sibling sent a newer one (or the pusher
        # restarted). Plan again before sending, so a stale set goes out once at most.
        return [Reconcile()], memory
    request = WorkerRequest(pod, "PUT", TARGETS_PATH, observed.stream_ref, TARGETS_SLOT, wanted.body())
    return [request], replace(memory, sent_at=facts.monotonic, sent_with=facts.reconciles)


def write_status(observed: RestreamObserved, outcome: RestreamOutcome, memory: RestreamMemory) -> Decision:
    telemetry = observed.telemetry
    inputs = (observed.facts.generation, outcome, observed.pod, telemetry, observed.stream)
    if not status_due(observed.facts, inputs, memory.status_inputs):
        return [], memory
    status, events = restream_update(observed, outcome, telemetry)
    return [WriteStatus(status, tuple(events), inputs)], replace(memory, status_inputs=inputs)


def restream_update(
    observed: RestreamObserved, outcome: RestreamOutcome, telemetry: PusherStatus | None
) -> tuple[Manifest, list[Transition]]:
    """The new status and its Events."""
    raw, now = with_status(observed.body, observed.written), observed.facts.stamp
    previous = validated(RestreamStatus, observed.written) if observed.written else None
    restream = None if outcome.invalid_spec else validated(Restream, raw)
    if restream is None:
        return invalid_spec_status(raw, outcome.invalid_spec or "", now, RestreamStatus).wire(), []
    pod = observed.pod or PodObservation(name=shared_pusher_pod_name(observed.stream_ref))
    observation = replace(
        PusherObservation.observe(pod, telemetry, observed.stream, outcome.generation),
        key_secret_missing=outcome.key_secret_missing,
        key_secret_refused=outcome.key_secret_refused,
        restart_pending=outcome.pod_change.part if restart_pending(outcome) else None,
    )
    status = restream_status(restream, observation, now)
    return status.wire(), restream_events(previous, status)


def backoff(observed: RestreamObserved, outcome: RestreamOutcome, memory: RestreamMemory) -> Decision:
    """Its Event, created at a streak's first failure, then updated as the count grows (next_write)."""
    facts, streak = observed.facts, FailureStreak.of(observed.telemetry)
    if streak is None or not observed.uid:
        return [], memory
    restream = RestreamRef(facts.namespace, facts.name, observed.uid)
    name = event_name(restream, streak.since)
    write = next_write(observed.event, name, streak, facts.monotonic, facts.settings.telemetry.metrics_write_seconds)
    if write is None:
        return [], memory
    annotations = tuple(sorted(spec_client_annotations(observed.body.get("spec")).items()))  # its client fields
    return [WriteBackoffEvent(restream, streak, write, facts.stamp, facts.monotonic, annotations)], memory


def restart_pending(outcome: RestreamOutcome) -> bool:
    """A change waits: for an idle pusher, or for the next try of a failed handover."""
    change = outcome.pod_change
    return change.action == "wait" or (change.action == "handover" and change.retry_at is not None)


def restart_when_idle(observed: RestreamObserved, outcome: RestreamOutcome) -> list[Reconcile]:
    """The pusher Pod that waits to be idle for its restart (restarts.py) is, or a handover held
    after a failed one may be tried again: reconcile."""
    running, change = observed.running, outcome.pod_change
    if change.action == "wait" and running is not None and not any(t.live for t in running.targets):
        return [Reconcile()]
    if change.action == "handover" and change.retry_at is not None and observed.facts.now >= change.retry_at:
        return [Reconcile()]
    return []

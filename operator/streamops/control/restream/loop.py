"""A Restream's status loop: its target's telemetry in the stream's shared pusher and its stream's
facts into status (see runtime/object_loop.py for what every loop does), the target's failure streak
into its one aggregated RestreamBackoff Event (restream/backoff_event.py; this loop is that Event's
only writer), and the stream's set of targets sent to the pusher (PUT /targets) whenever the
pusher runs another one: a pusher that starts or restarts has none (docs/design/shared-pusher.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Literal

from streamops.api import LIVESTREAM, RESTREAM, Restream, RestreamStatus
from streamops.contract.pusher import TARGETS_PATH, PusherSetStatus, PusherStatus
from streamops.control.restream.backoff_event import (
    FailureStreak,
    RestreamRef,
    WrittenSeries,
    backoff_event,
    backoff_event_update,
    event_name,
    next_write,
)
from streamops.control.restream.reconcile import RestreamOutcome, reconcile_restream
from streamops.control.restream.specs.names import PUSHER_COMPONENT, shared_pusher_pod_name
from streamops.control.restream.status import PusherObservation, restream_events, restream_status
from streamops.control.runtime.indexes import Indexes, StreamFacts, worker_pod
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop, follow_stream, utcnow
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.conditions import Transition
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.worker_client import SharedTelemetry, TelemetryReader, put
from streamops.kube.client import ApiError, KubeApi
from streamops.kube.manifests import Manifest

RESTREAM_LOOP = KindLoop(
    api=RESTREAM,
    reconcile=reconcile_restream,
    status_model=RestreamStatus,
    metric_fields=frozenset({"bytesSent"}),
    carried=lambda outcome: {"owner_patched_at": outcome.owner_patched_at},
)
KEY_RETRY_SECONDS = 5.0  # a missing target-key Secret is looked for again this often
SEND_AGAIN_SECONDS = 2.0  # a pusher that still runs another set after a PUT /targets is sent it again
log = logging.getLogger("streamops.operator")


def restream_update(
    loop: ObjectLoop[RestreamOutcome],
    outcome: RestreamOutcome,
    pod: PodObservation | None,
    telemetry: PusherStatus | None,
    stream: StreamFacts | None,
) -> tuple[Manifest, list[Transition]]:
    """The new status and its Events (see livestream_update)."""
    raw = loop.raw()
    previous = loop.previous_status(raw, RestreamStatus)
    restream = loop.valid_object(raw, Restream, outcome)
    if restream is None:
        return loop.invalid_spec_status(raw, outcome), []
    stream_ref = (loop.body.spec.get("streamRef") or {}).get("name", "")
    pod = pod or PodObservation(name=shared_pusher_pod_name(stream_ref))
    observed = PusherObservation.observe(pod, telemetry, stream, outcome.generation)
    observation = replace(
        observed,
        key_secret_missing=outcome.key_secret_missing,
        key_secret_refused=outcome.key_secret_refused,
        restart_pending=outcome.pod_change.part if outcome.pod_change.action == "wait" else None,
    )
    status = restream_status(restream, observation, utcnow())
    return status.wire(), restream_events(previous, status)


def write_backoff_event(
    api: KubeApi,
    restream: RestreamRef,
    streak: FailureStreak,
    action: Literal["create", "update"],
    now: datetime,
    annotations: Mapping[str, str] | None = None,
) -> None:
    """Create the streak's Event, or bring it up to date: a create that finds it (the operator
    restarted mid-streak) updates it, an update that does not (the API server drops Events after
    its --event-ttl, 1 h by default) creates it again."""
    event = backoff_event(restream, streak, now, annotations)
    if action == "create" and api.create(event) is not None:
        return
    if not api.patch("Event", restream.namespace, event["metadata"]["name"], backoff_event_update(streak, now)):
        api.create(event)


async def sync_backoff_event(
    loop: ObjectLoop[RestreamOutcome], written: WrittenSeries, telemetry: PusherStatus | None
) -> None:
    """Every tick: the pusher's failure streak, if any, into its Event (see next_write for how often)."""
    streak = FailureStreak.of(telemetry)
    uid = loop.body.metadata.uid
    if streak is None or not uid:
        return
    restream = RestreamRef(loop.namespace, loop.name, uid)
    name, now = event_name(restream, streak.since), time.monotonic()
    action = next_write(written, name, streak, now, loop.state.settings.telemetry.metrics_write_seconds)
    if action is None:
        return
    try:
        state, annotations = loop.state, loop.event_annotations
        await state.write_status(write_backoff_event, state.api, restream, streak, action, utcnow(), annotations)
    except (ApiError, OSError) as e:  # Events are auxiliary: the next tick tries again
        log.warning("Restream %s/%s: writing its RestreamBackoff Event failed: %s", loop.namespace, loop.name, e)
        return
    written.name, written.count, written.at = name, streak.failures, now


async def restream_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    loop = ObjectLoop(state, RESTREAM_LOOP, obj)
    readers: SharedTelemetry[PusherSetStatus] | None = None  # held: the stream's one reader lives while we do
    series = WrittenSeries()
    sending: asyncio.Task[None] | None = None  # the PUT /targets in flight (a reference keeps it alive)
    sent_at = 0.0
    sent_with: RestreamOutcome | None = None  # the outcome whose set was sent last
    try:
        while loop.running:
            stream_ref = (loop.body.spec.get("streamRef") or {}).get("name", "")
            pod_name = shared_pusher_pod_name(stream_ref)
            await loop.remove_lost_pods(
                worker_pod(indexes.pods, loop.namespace, LIVESTREAM.kind, stream_ref, PUSHER_COMPONENT)
            )
            outcome = await loop.reconciled()
            if outcome is None:
                await loop.sleep()
                continue
            await loop.announce_replaced(outcome, {"pusher": (pod_name, outcome.pod_change)})
            stream, outcome = await follow_stream(loop, indexes.streams, outcome)
            await loop.announce_replaced(outcome, {"pusher": (pod_name, outcome.pod_change)})
            # Look again soon: the Secret may be created (or labelled) any time, and Secrets are not watched.
            if outcome.key_secret_missing or outcome.key_secret_refused:
                loop.next_resync = min(loop.next_resync, time.monotonic() + KEY_RETRY_SECONDS)
            pod = worker_pod(indexes.pods, loop.namespace, LIVESTREAM.kind, stream_ref, PUSHER_COMPONENT)
            loop.report_restarts(stream_ref, {"pusher": [pod]})
            readers = state.shared_telemetry(
                (loop.namespace, stream_ref), lambda: SharedTelemetry(TelemetryReader(PusherSetStatus))
            )
            running = await state.read_worker(readers, pod, loop.namespace, stream_ref)
            wanted = outcome.targets
            due = time.monotonic() - sent_at > SEND_AGAIN_SECONDS
            other_set = running is not None and wanted is not None and running.versions() != wanted.versions()
            if state.client is not None and pod is not None and wanted is not None and other_set and due:
                if sent_with is outcome:
                    # Sent, and the pusher runs another set still: a sibling sent a newer one (or the
                    # pusher restarted). Plan again before sending, so a stale set goes out once at most.
                    loop.requested = True
                else:
                    # The pusher runs another set (it started, or a Restream changed): send ours.
                    sent_at, sent_with = time.monotonic(), outcome
                    auth = await state.worker_headers(loop.namespace, stream_ref)
                    sending = asyncio.get_running_loop().create_task(
                        put(state.client, pod, TARGETS_PATH, wanted.body(), auth)
                    )
            uid = loop.body.metadata.uid or ""
            telemetry: PusherStatus | None = running.of(uid) if running is not None else None
            if outcome.pod_change.action == "wait" and running is not None and not any(t.live for t in running.targets):
                loop.requested = True  # the pusher that waited for its restart is idle now
            inputs = (loop.body.metadata.get("generation"), outcome, pod, telemetry, stream)
            if loop.changed(inputs):
                await loop.write(*restream_update(loop, outcome, pod, telemetry, stream))
            await sync_backoff_event(loop, series, telemetry)
            await loop.sleep(pod)
    finally:
        if sending is not None:
            sending.cancel()
        loop.close()

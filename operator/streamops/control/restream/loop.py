"""A Restream's status loop: its pusher's telemetry and its stream's facts into status (see
shared/object_loop.py for what every loop does)."""

from __future__ import annotations

import time
from dataclasses import replace

import kopf

from streamops.api import RESTREAM, Restream, RestreamStatus
from streamops.contract.pusher import PusherStatus
from streamops.control.restream.builders import PUSHER_COMPONENT, pusher_pod_name
from streamops.control.restream.reconcile import RestreamOutcome, reconcile_restream
from streamops.control.restream.status import PusherObservation, restream_events, restream_status
from streamops.control.shared.conditions import Transition
from streamops.control.shared.indexes import Indexes, StreamFacts, worker_pod
from streamops.control.shared.manifests import Manifest
from streamops.control.shared.object_loop import KindLoop, ObjectLoop, follow_stream, utcnow
from streamops.control.shared.pod_observation import PodObservation
from streamops.control.shared.state import OperatorState
from streamops.control.shared.worker_client import TelemetryReader

RESTREAM_LOOP = KindLoop(
    api=RESTREAM,
    reconcile=reconcile_restream,
    status_model=RestreamStatus,
    metric_fields=frozenset({"bytesSent"}),
)
KEY_RETRY_SECONDS = 5.0  # a missing target-key Secret is looked for again this often


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
    pod = pod or PodObservation(name=pusher_pod_name(loop.name))
    observed = PusherObservation.observe(pod, telemetry, stream, outcome.generation)
    observation = replace(observed, key_secret_missing=outcome.key_secret_missing)
    status = restream_status(restream, observation, utcnow())
    return status.wire(), restream_events(previous, status)


async def restream_loop(state: OperatorState, body: kopf.Body, stopped: kopf.DaemonStopped, indexes: Indexes) -> None:
    loop = ObjectLoop(state, RESTREAM_LOOP, body)
    reader = TelemetryReader(PusherStatus)
    try:
        while not stopped:
            await loop.remove_lost_pods(
                worker_pod(indexes.pods, loop.namespace, RESTREAM.kind, loop.name, PUSHER_COMPONENT)
            )
            outcome = await loop.reconciled()
            if outcome is None:
                await loop.sleep()
                continue
            stream, outcome = await follow_stream(loop, indexes.streams, outcome)
            if outcome.key_secret_missing:  # look again soon: the Secret may be created any time
                loop.next_resync = min(loop.next_resync, time.monotonic() + KEY_RETRY_SECONDS)
            pod = worker_pod(indexes.pods, loop.namespace, RESTREAM.kind, loop.name, PUSHER_COMPONENT)
            telemetry = await reader.read(state.client, pod) if state.client else None
            inputs = (body.metadata.get("resourceVersion"), outcome, pod, telemetry, stream)
            if loop.changed(inputs):
                await loop.write(*restream_update(loop, outcome, pod, telemetry, stream))
            await loop.sleep(pod)
    finally:
        loop.close()

"""How telemetry reaches status: one asyncio task per object (a kopf daemon) that every
`telemetry_interval_seconds` (0.5 s):

1. looks up the object's worker Pods in the pod index (kept by kopf from its Pod watch: no API call),
2. reads each Running worker's `/status` at the Pod's IP (one small HTTP request, keep-alive),
3. if any input changed since the last tick, computes the whole status with the kind's pure
   status function (`livestream_status`, `recording_status`, `restream_status`),
4. sends one merge patch of what differs from what it last wrote, and posts the Events the
   change implies. Changes of live metrics only (fps, bitrate, bytes, durations) are written at
   most every `metrics_write_seconds`, so a live stream does not turn into a write storm.

The same task reconciles the object: first thing, whenever its spec changed (generation), when
one of its Pods went away, and every `resync_seconds` (level-based safety net); and it does the few
things only it can do: ask a stopped recorder to finalise (POST /stop) and remove the recorder
Pod once its final status is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf
from pydantic import ValidationError

from streamops.api import (
    LIVESTREAM,
    RECORDING,
    RESTREAM,
    LiveStream,
    LiveStreamStatus,
    Recording,
    RecordingStatus,
    Restream,
    RestreamStatus,
)
from streamops.api.kinds import Kind
from streamops.contract.ingest import IngestStatus, Role
from streamops.contract.pusher import PusherStatus
from streamops.contract.recorder import RecorderConfig, RecorderStatus
from streamops.contract.worker import START_PATH, STOP_PATH
from streamops.control.livestream.builders import ingest_component
from streamops.control.livestream.reconcile import StreamOutcome, reconcile_livestream
from streamops.control.livestream.status import (
    IngestObservation,
    RecordingFacts,
    invalid_spec_status,
    livestream_events,
    livestream_status,
)
from streamops.control.recording.builders import STANDBY_COMPONENT, recorder_pod_name
from streamops.control.recording.reconcile import RecordingOutcome, reconcile_recording
from streamops.control.recording.status import RecorderObservation, recording_events, recording_status
from streamops.control.restream.builders import pusher_pod_name
from streamops.control.restream.reconcile import RestreamOutcome, reconcile_restream
from streamops.control.restream.status import PusherObservation, restream_events, restream_status
from streamops.control.shared.conditions import Transition
from streamops.control.shared.indexes import StreamFacts, plain
from streamops.control.shared.pod_observation import PodObservation
from streamops.control.shared.ports import PortExhausted
from streamops.control.shared.state import ObjectKey, OperatorState
from streamops.control.shared.status_patch import status_patch
from streamops.control.shared.worker_client import TelemetryReader

METRIC_FIELDS: dict[str, frozenset[str]] = {
    LIVESTREAM.kind: frozenset({"frameRate", "bitrate", "transcodingSpeed", "recordingDuration"}),
    RECORDING.kind: frozenset({"duration"}),
    RESTREAM.kind: frozenset({"bytesSent"}),
}
SELECTOR = "app.kubernetes.io/managed-by=streamops"
KEY_RETRY_SECONDS = 5.0
RETRY_MAX_SECONDS = 60.0
log = logging.getLogger("streamops.operator")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def index_values(index: Mapping[Any, Iterable[Any]], key: Any) -> list[Any]:
    return list(index[key]) if key in index else []


def worker_pod(
    pods: Mapping[Any, Iterable[Any]], namespace: str, kind: str, owner: str, component: str
) -> PodObservation | None:
    found = index_values(pods, (namespace, kind, owner, component))
    return found[0] if found else None


# --- reconciling (sync, in a thread; serialised per object) ----------------------------------------


def reconcile(state: OperatorState, kind: Kind, body: Mapping[str, Any], **extra: Any) -> Any:
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    key: ObjectKey = (kind.kind, namespace, name)
    if body["metadata"].get("deletionTimestamp"):
        return state.outcomes.get(key)  # going away: the garbage collector removes the children
    run: Callable[..., Any] = {
        LIVESTREAM.kind: reconcile_livestream,
        RECORDING.kind: reconcile_recording,
        RESTREAM.kind: reconcile_restream,
    }[kind.kind]
    with state.lock(key):
        try:
            outcome = run(state.api, state.settings, body, state.allocator, **extra)
        except PortExhausted:
            state.seed_ports(SELECTOR)
            outcome = run(state.api, state.settings, body, state.allocator, **extra)
        state.outcomes[key] = outcome
        return outcome


# --- writing status --------------------------------------------------------------------------------


@dataclass
class StatusWriter:
    """Remembers what it last wrote (the body kopf hands out may lag behind our own patches)."""

    kind: Kind
    namespace: str
    name: str
    written: dict[str, Any]
    metrics_every: float
    last_write: float = 0.0

    async def write(self, state: OperatorState, body: kopf.Body, new: dict[str, Any], events: list[Transition]) -> bool:
        """True when nothing is left to write (written, or nothing changed)."""
        patch = status_patch(self.written, new)
        if patch is None:
            return True
        metrics_only = set(patch) <= METRIC_FIELDS[self.kind.kind]
        if metrics_only and time.monotonic() - self.last_write < self.metrics_every:
            return False
        if not await state.write_status(state.api.patch_status, self.kind, self.namespace, self.name, patch):
            return True  # the object is gone
        self.written, self.last_write = new, time.monotonic()
        for e in events:
            kopf.event(body, type=e.type, reason=e.reason, message=e.message)
        return True


class ObjectLoop:
    """Shared by the three kinds: reconciling when due, ticking, input fingerprint, status writing."""

    def __init__(self, state: OperatorState, kind: Kind, body: kopf.Body) -> None:
        self.state, self.kind, self.body = state, kind, body
        self.namespace, self.name = body.metadata.namespace or "", body.metadata.name or ""
        self.key: ObjectKey = (kind.kind, self.namespace, self.name)
        self.writer = StatusWriter(
            kind, self.namespace, self.name, plain(body.get("status") or {}), state.settings.metrics_write_seconds
        )
        self.last_inputs: Any = None
        self.woken = state.waker(self.key)
        self.requested = False  # a reconcile was asked for (a Pod of the object went away)
        self.extra: dict[str, Any] = {}  # what the reconciler is told from the indexes (see the kind's loop)
        self.failures = 0
        self.retry_at = 0.0
        period = state.settings.resync_seconds
        self.next_resync = time.monotonic() + period * (0.5 + random.random())  # spread the load

    def raw(self) -> dict[str, Any]:
        """The object as last seen, with the status this loop last wrote."""
        raw = plain(self.body)
        raw["status"] = self.writer.written
        return raw

    async def reconciled(self, **extra: Any) -> Any:
        """The object's reconcile outcome, reconciling first when due: never done yet, the spec
        changed (metadata.generation), a Pod of the object went away, or the resync period passed.
        A failed reconcile is tried again after 1, 2, 4 … 60 s."""
        self.requested |= self.state.take_reconcile_request(self.key)
        outcome = self.state.outcomes.get(self.key)
        now = time.monotonic()
        stale = outcome is None or outcome.generation != self.body.metadata.get("generation")
        if not (stale or self.requested or now >= self.next_resync) or now < self.retry_at:
            return outcome
        try:
            outcome = await self.reconcile(**extra)
        except Exception as e:  # the API refused or is unreachable: keep what was, try again later
            self.failures += 1
            delay = min(2.0 ** (self.failures - 1), RETRY_MAX_SECONDS)
            self.retry_at = now + delay
            log.warning("%s %s/%s: reconcile failed, again in %.0f s: %s", *self.key, delay, e)
            if self.failures == 1:
                kopf.event(self.body, type="Warning", reason="ReconcileFailed", message=str(e)[:500])
            return self.state.outcomes.get(self.key)
        level = logging.INFO if stale else logging.DEBUG  # first look (created, operator restarted) or spec changed
        log.log(level, "%s %s/%s: reconciled (generation %s)", *self.key, getattr(outcome, "generation", None))
        self.failures, self.retry_at, self.requested = 0, 0.0, False
        self.next_resync = now + self.state.settings.resync_seconds
        return outcome

    async def reconcile(self, **extra: Any) -> Any:
        extra = {**self.extra, **extra}
        return await self.state.call(reconcile, self.state, self.kind, plain(self.body), **extra)

    async def follow_stream(self, streams: Any, outcome: Any) -> tuple[Any, Any]:
        """Recording and Restream: their stream from the index, and the outcome, reconciled again at
        once when the stream they wait for appears or was replaced by a new object (another uid)."""
        stream_ref = (self.body.spec.get("streamRef") or {}).get("name", "")
        self.state.follow(self.key, self.namespace, stream_ref)
        stream = next(iter(index_values(streams, (self.namespace, stream_ref))), None)
        if stream is not None and (
            outcome.waiting_for_stream or (outcome.stream_uid and stream.uid != outcome.stream_uid)
        ):
            return stream, await self.reconcile() or outcome
        return stream, outcome

    def changed(self, inputs: Any) -> bool:
        if inputs == self.last_inputs:
            return False
        self.last_inputs = inputs
        return True

    async def write(self, new: dict[str, Any], events: list[Transition]) -> None:
        if not await self.writer.write(self.state, self.body, new, events):
            self.last_inputs = None  # deferred metrics: try again next tick

    async def sleep(self, *pods: PodObservation | None) -> None:
        """Until the next tick, or until woken (the object or one of its Pods changed): short while
        a worker runs (its telemetry is read every tick), longer while there is nothing to read.
        kopf's `stopped` is checked by the loop, and a deleted object's task is cancelled by kopf
        after its cancellation timeout anyway."""
        settings = self.state.settings
        polling = any(pod is not None and pod.status_url for pod in pods)
        timeout = settings.telemetry_interval_seconds if polling else settings.idle_interval_seconds
        if self.retry_at:
            timeout = max(0.0, min(timeout, self.retry_at - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.woken.wait(), timeout)
        self.woken.clear()

    def close(self) -> None:
        self.state.forget(self.key)


def _model(model: type[Any], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


# --- LiveStream ---------------------------------------------------------------------------------


def livestream_update(
    loop: ObjectLoop,
    outcome: StreamOutcome,
    pods: dict[Any, PodObservation],
    telemetry: dict[Role, IngestStatus],
    facts: tuple[RecordingFacts, ...],
) -> tuple[dict[str, Any], list[Transition]]:
    """The new status and its Events. (A function of its own so that nothing it builds — the
    object as a model, copies of the body — outlives the tick in the loop's frame.)"""
    raw = loop.raw()
    previous = _model(LiveStreamStatus, raw["status"])
    stream = None if outcome.invalid_spec else _model(LiveStream, raw)
    if stream is None:
        status = invalid_spec_status(raw, outcome.invalid_spec or "spec rejected by the operator", utcnow())
        return status.wire(), []
    observation = IngestObservation(
        pods=pods,
        key_secret_missing=outcome.key_secret_missing,
        telemetry=telemetry,
        recordings=facts,
        host_ports=outcome.host_ports,
        worker_address=loop.state.settings.worker_address,
        generation=outcome.generation,
    )
    status = livestream_status(stream, observation, utcnow())
    return status.wire(), livestream_events(previous if raw["status"] else None, status)


async def livestream_loop(
    state: OperatorState, body: kopf.Body, stopped: kopf.DaemonStopped, pods: Any, recordings: Any
) -> None:
    loop = ObjectLoop(state, LIVESTREAM, body)
    readers: dict[Role, TelemetryReader[IngestStatus]] = {
        "primary": TelemetryReader(IngestStatus),
        "backup": TelemetryReader(IngestStatus),
    }
    try:
        while not stopped:
            auto = any(f.auto for f in index_values(recordings, (loop.namespace, loop.name)))
            standby = worker_pod(pods, loop.namespace, LIVESTREAM.kind, loop.name, STANDBY_COMPONENT)
            loop.extra = {"standby": standby.name if standby else None}
            outcome: StreamOutcome | None = await loop.reconciled(auto_recording_exists=auto)
            if outcome is None:
                await loop.sleep()
                continue
            observed_pods = {
                role: pod
                for role in ("primary", "backup")
                if (pod := worker_pod(pods, loop.namespace, LIVESTREAM.kind, loop.name, ingest_component(role)))
            }
            telemetry: dict[Role, IngestStatus] = {}
            for role, reader in readers.items():
                data = await reader.read(state.client, observed_pods.get(role)) if state.client else None
                if data is not None:
                    telemetry[role] = data
            facts = tuple(
                RecordingFacts(f.name, f.recording, f.duration)
                for f in sorted(index_values(recordings, (loop.namespace, loop.name)), key=lambda f: f.name)
            )
            inputs = (body.metadata.get("resourceVersion"), outcome, observed_pods, telemetry, facts)
            if loop.changed(inputs):
                await loop.write(*livestream_update(loop, outcome, observed_pods, telemetry, facts))
            await loop.sleep(*observed_pods.values())
    finally:
        loop.close()


# --- Recording ----------------------------------------------------------------------------------


async def post_stop(client: aiohttp.ClientSession, pod: PodObservation) -> None:
    """stop_recording: the recorder finalises its videos and keeps serving /status."""
    url = pod.worker_url(STOP_PATH)
    if url is None:
        return
    try:
        async with client.post(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            await response.read()
    except (aiohttp.ClientError, TimeoutError, OSError):
        pass  # the answer waits for the finalisation; /status tells when it is done


async def post_start(client: aiohttp.ClientSession, pod: PodObservation, config: RecorderConfig) -> None:
    """A standby recorder adopted by a Recording starts recording (it answers once started)."""
    url = pod.worker_url(START_PATH)
    if url is None:
        return
    try:
        async with client.post(url, json=config.wire(), timeout=aiohttp.ClientTimeout(total=2)) as response:
            await response.read()
    except (aiohttp.ClientError, TimeoutError, OSError):
        pass  # /status says whether it started; asked again after 2 s


def recording_update(
    loop: ObjectLoop,
    outcome: RecordingOutcome,
    pod: PodObservation | None,
    telemetry: RecorderStatus | None,
    stream: StreamFacts | None,
) -> tuple[dict[str, Any], list[Transition], bool]:
    """The new status, its Events, and whether it is final (see livestream_update)."""
    raw = loop.raw()
    previous = _model(RecordingStatus, raw["status"])
    recording = None if outcome.invalid_spec else _model(Recording, raw)
    if recording is None:
        return invalid_spec_status(raw, outcome.invalid_spec or "", utcnow(), RecordingStatus).wire(), [], False
    observation = RecorderObservation(
        pod=pod or PodObservation(name=recorder_pod_name(loop.name)),
        telemetry=telemetry,
        stream_exists=stream is not None,
        stream_live=bool(stream and (stream.live or stream.backup_live)),
        generation=outcome.generation,
    )
    status = recording_status(recording, observation, utcnow())
    final = status.condition("Succeeded") is not None
    return status.wire(), recording_events(previous if raw["status"] else None, status), final


async def recording_loop(
    state: OperatorState, body: kopf.Body, stopped: kopf.DaemonStopped, pods: Any, streams: Any
) -> None:
    loop = ObjectLoop(state, RECORDING, body)
    reader = TelemetryReader(RecorderStatus)
    stop_sent_to = ""
    stopping: asyncio.Task[None] | None = None  # the POST /stop in flight (a reference keeps it alive)
    starting: asyncio.Task[None] | None = None  # the POST /start to an adopted standby
    start_sent_at = 0.0
    try:
        while not stopped:
            pod = worker_pod(pods, loop.namespace, RECORDING.kind, loop.name, "recorder")
            stream_ref = (body.spec.get("streamRef") or {}).get("name", "")
            standby = worker_pod(pods, loop.namespace, LIVESTREAM.kind, stream_ref, STANDBY_COMPONENT)
            loop.extra = {"recorder": pod.name if pod else None, "standby": standby.name if standby else None}
            outcome: RecordingOutcome | None = await loop.reconciled()
            if outcome is None:
                await loop.sleep()
                continue
            stream, outcome = await loop.follow_stream(streams, outcome)
            pod = worker_pod(pods, loop.namespace, RECORDING.kind, loop.name, "recorder")
            telemetry = await reader.read(state.client, pod) if state.client else None
            stopped_spec = bool(body.spec.get("stopped"))
            waiting = telemetry is not None and telemetry.state == "standby"
            if waiting and outcome.start_config and not stopped_spec and time.monotonic() - start_sent_at > 2:
                # An adopted standby (or one that restarted since): hand it the Recording.
                start_sent_at = time.monotonic()
                starting = asyncio.get_running_loop().create_task(
                    post_start(state.client, pod, outcome.start_config)  # type: ignore[arg-type]
                )
            asking = stopped_spec and pod is not None and telemetry is not None and state.client is not None
            if asking and telemetry.state != "stopped" and stop_sent_to != pod.uid:  # type: ignore[union-attr]
                stop_sent_to = pod.uid  # type: ignore[union-attr]
                stopping = asyncio.get_running_loop().create_task(post_stop(state.client, pod))  # type: ignore[arg-type]
            inputs = (body.metadata.get("resourceVersion"), outcome, pod, telemetry, stream)
            if loop.changed(inputs):
                new, events, final = recording_update(loop, outcome, pod, telemetry, stream)
                await loop.write(new, events)
                if stopped_spec and pod is not None and final:
                    await loop.reconcile()  # final status written: the recorder Pod can go
            await loop.sleep(pod)
    finally:
        for task in (stopping, starting):
            if task is not None:
                task.cancel()
        loop.close()


# --- Restream -----------------------------------------------------------------------------------


def restream_update(
    loop: ObjectLoop,
    outcome: RestreamOutcome,
    pod: PodObservation | None,
    telemetry: PusherStatus | None,
    stream: StreamFacts | None,
) -> tuple[dict[str, Any], list[Transition]]:
    """The new status and its Events (see livestream_update)."""
    raw = loop.raw()
    previous = _model(RestreamStatus, raw["status"])
    restream = None if outcome.invalid_spec else _model(Restream, raw)
    if restream is None:
        return invalid_spec_status(raw, outcome.invalid_spec or "", utcnow(), RestreamStatus).wire(), []
    observation = PusherObservation(
        pod=pod or PodObservation(name=pusher_pod_name(loop.name)),
        telemetry=telemetry,
        stream_exists=stream is not None,
        stream_live=bool(stream and (stream.live or stream.backup_live)),
        key_secret_missing=outcome.key_secret_missing,
        generation=outcome.generation,
    )
    status = restream_status(restream, observation, utcnow())
    return status.wire(), restream_events(previous if raw["status"] else None, status)


async def restream_loop(
    state: OperatorState, body: kopf.Body, stopped: kopf.DaemonStopped, pods: Any, streams: Any
) -> None:
    loop = ObjectLoop(state, RESTREAM, body)
    reader = TelemetryReader(PusherStatus)
    try:
        while not stopped:
            outcome: RestreamOutcome | None = await loop.reconciled()
            if outcome is None:
                await loop.sleep()
                continue
            stream, outcome = await loop.follow_stream(streams, outcome)
            if outcome.key_secret_missing:  # look again soon: the Secret may be created any time
                loop.next_resync = min(loop.next_resync, time.monotonic() + KEY_RETRY_SECONDS)
            pod = worker_pod(pods, loop.namespace, RESTREAM.kind, loop.name, "pusher")
            telemetry = await reader.read(state.client, pod) if state.client else None
            inputs = (body.metadata.get("resourceVersion"), outcome, pod, telemetry, stream)
            if loop.changed(inputs):
                await loop.write(*restream_update(loop, outcome, pod, telemetry, stream))
            await loop.sleep(pod)
    finally:
        loop.close()

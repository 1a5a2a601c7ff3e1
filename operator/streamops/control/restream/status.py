"""Restream status, computed only from what is observed: the pusher Pod, the pusher's /status,
and whether the stream is live."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from streamops.api import Restream, RestreamStatus
from streamops.api.common import ConditionStatus
from streamops.contract.pusher import PusherStatus
from streamops.control.restream import reasons
from streamops.control.runtime.follower import FollowerObservation
from streamops.control.shared.conditions import (
    READY,
    STALLED,
    Observed,
    Transition,
    condition_transitions,
    merge_conditions,
    ready_and,
    restart_pending,
    stream_not_found,
    stream_not_live,
    worker_on_its_way,
)
from streamops.control.workers.pod_observation import PodObservation, pod_problem_events, worker_pod_condition

LIVE = "Live"  # the Restream's own condition: the target receives the stream

# The pusher redacts the key it knows; this is a second net for anything that looks like a
# credential in a URL (userinfo, key-ish query parameters, SRT passphrases and stream ids).
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"(?P<name>(?:key|passphrase|streamid|token|secret|password|auth)=)[^&\s'\"]*", re.IGNORECASE
)
_RTMP_PATH_KEY = re.compile(r"(?P<app>rtmps?://[^/\s]+/[^/\s]+/)[^\s'\"?]+", re.IGNORECASE)


def redact_credentials(text: str) -> str:
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    text = _SECRET_PARAM.sub(r"\g<name>***", text)
    return _RTMP_PATH_KEY.sub(r"\g<app>***", text)


@dataclass(frozen=True)
class PusherObservation(FollowerObservation[PusherStatus]):
    """The pusher Pod, the pusher's /status, the stream, and whether the target key's Secret is missing."""

    key_secret_missing: str | None = None
    key_secret_refused: str | None = None  # the tenancy policy's refusal of the key's Secret


_NOT_PUSHING: tuple[tuple[str, ConditionStatus], ...] = ((READY, "False"), (STALLED, "True"), (LIVE, "False"))


def _pod_condition(pod: PodObservation) -> Observed:
    running = (reasons.CONNECTING, f"pusher Pod {pod.name} is connecting to the target")
    return worker_pod_condition(pod, "pusher", reasons.PUSHER_POD, running)


def restream_status(restream: Restream, observed: PusherObservation, now: datetime) -> RestreamStatus:
    previous = restream.status or RestreamStatus()
    generation = observed.acted_generation(restream.metadata.generation)
    t = observed.telemetry
    stream = restream.spec.stream_ref.name
    live = bool(restream.spec.active and t and t.live)
    state = t.state if t is not None else ""
    last_error = t.last_error if t is not None else previous.last_error
    last_error = redact_credentials(last_error)[:4096] if last_error else None

    conditions: list[Observed]
    if not restream.spec.active:
        conditions = ready_and(LIVE, "True", "False", reasons.INACTIVE, "restream is switched off (spec.active false)")
    elif observed.key_secret_refused:
        message = observed.key_secret_refused
        conditions = [Observed(t, s, reasons.REFUSED_BY_POLICY, message) for t, s in _NOT_PUSHING]
    elif observed.key_secret_missing:
        message = f"Secret {observed.key_secret_missing} named in streamKeySecretRef does not exist"
        conditions = [
            Observed(READY, "False", reasons.STREAM_KEY_SECRET_NOT_FOUND, message),
            Observed(STALLED, "True", reasons.STREAM_KEY_SECRET_NOT_FOUND, message),
            Observed(LIVE, "False", reasons.STREAM_KEY_SECRET_NOT_FOUND, message),
        ]
    elif live:
        conditions = ready_and(LIVE, "True", "True", reasons.PUSHING, "the target receives the stream")
    elif observed.pod.evicted_from_lost_node:  # (before the stream's state: its ingest may have been there too)
        conditions = worker_on_its_way(LIVE, _pod_condition(observed.pod))
    elif not observed.stream_exists:
        conditions = stream_not_found(LIVE, stream)
    elif observed.pod.cannot_start():  # (while the stream is offline too: it would not push when it goes live)
        conditions = worker_on_its_way(LIVE, _pod_condition(observed.pod))
    elif state == "backoff":
        message = f"the target failed, retrying with backoff: {last_error or 'unknown error'}"[:4096]
        conditions = ready_and(LIVE, "False", "False", reasons.BACKOFF, message)
    elif not observed.stream_live:
        conditions = stream_not_live(LIVE, stream, observed.stream_backup_only)
    elif state == "codec-not-accepted":
        # Only the user can fix it (the spec, or the publisher's codec): Stalled, as a missing key Secret
        # (GitOps tools show the Restream degraded with the reason instead of progressing forever).
        message = last_error or "the source's video is a codec spec.targetVideoCodecs does not list"
        conditions = [Observed(t, s, reasons.CODEC_NOT_ACCEPTED, message) for t, s in _NOT_PUSHING]
    else:
        conditions = worker_on_its_way(LIVE, _pod_condition(observed.pod))

    if observed.restart_pending:
        conditions = [*conditions, *restart_pending({"pusher": observed.restart_pending})]

    return RestreamStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, conditions, generation, now),
        live=live,
        started_at=((t and t.started_at) or previous.started_at) if restream.spec.active else previous.started_at,
        bytes_sent=t.bytes_sent if t is not None else previous.bytes_sent,
        reconnects=t.reconnects if t is not None else previous.reconnects,
        last_error=last_error,
    )


def restream_events(previous: RestreamStatus | None, current: RestreamStatus) -> list[Transition]:
    before = previous or RestreamStatus()
    events = condition_transitions(before.conditions, current.conditions)
    events += pod_problem_events(before.conditions, current.conditions, reasons.PUSHER_POD)
    if current.live and not before.live:
        events.append(Transition("Normal", reasons.RESTREAM_LIVE, "the target receives the stream"))
    elif before.live and not current.live:
        events.append(Transition("Normal", reasons.RESTREAM_OFFLINE, "the target no longer receives the stream"))
    # Target failures are not transitions: their one Warning per streak is restream/backoff_event.py's.
    return events

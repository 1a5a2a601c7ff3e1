"""LiveStream status, computed only from what is observed (level-based)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from streamops.api import LiveStream, LiveStreamStatus
from streamops.api.common import Condition
from streamops.api.livestream import SESSIONS_KEPT, IngestRole, PublishSession, SessionProtocol, Viewers
from streamops.contract.edge import PROTOCOLS, VIEWER_WINDOW_SECONDS
from streamops.contract.ingest import IngestStatus, Role
from streamops.contract.stream_key import SRT_PASSPHRASE_MAX, SRT_PASSPHRASE_MIN
from streamops.control.livestream import reasons
from streamops.control.livestream.deactivation import NO_DATA, Deactivation, deactivated_message
from streamops.control.livestream.exposure import Reach, ServiceObservation, ingest_reach, region_reaches
from streamops.control.livestream.handover import HANDING_OVER, HandoverState
from streamops.control.livestream.overlays import overlay_events, overlays_condition, stream_overlays
from streamops.control.livestream.playability import (
    BROWSER_PLAYABLE,
    NOT_BROWSER_PLAYABLE,
    WEBRTC_PLAYABLE,
    browser_playability,
    webrtc_playability,
)
from streamops.control.livestream.specs.features import ingest_roles, whep_on
from streamops.control.livestream.specs.route import playback_route
from streamops.control.livestream.specs.secret import stream_key_ref
from streamops.control.livestream.specs.urls import ingest_endpoints, playback_base, playback_urls, reach_inputs
from streamops.control.runtime.handover_steps import HANDOVER_FAILED
from streamops.control.shared.conditions import (
    BACKUP_READY,
    READY,
    RECONCILING,
    RESTART_PENDING,
    STALLED,
    Observed,
    Transition,
    condition_transitions,
    merge_conditions,
    restart_pending,
)
from streamops.control.shared.quality_sets import LADDER_PARTS, quality_set_ref
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.tenancy import regional_load_balancers_allowed
from streamops.control.workers.edge_viewers import Sessions, merge_sessions
from streamops.control.workers.endpoint_slices import EndpointObservation
from streamops.control.workers.ingest_address import IngestPortMap, ingest_names
from streamops.control.workers.pod_observation import PodObservation, node_lost_message
from streamops.redaction import Redactor

__all__ = [
    "EndpointObservation",
    "IngestObservation",
    "PodObservation",
    "RecordingFacts",
    "ServiceObservation",
    "ice_servers_events",
    "livestream_events",
    "livestream_status",
    "publisher_refusal_events",
]


@dataclass(frozen=True)
class RecordingFacts:
    """What the LiveStream shows of one of its Recordings (from the Recording's own status)."""

    name: str
    recording: bool = False
    duration: float | None = None


@dataclass(frozen=True)
class IngestObservation:
    pods: dict[Role, PodObservation]
    key_secret_missing: str | None = None  # name of a referenced Secret that does not exist
    key_invalid_for_srt: str | None = None  # why SRT cannot take the referenced key (never the key)
    telemetry: dict[Role, IngestStatus] = field(default_factory=dict)  # fresh worker /status per role
    recordings: tuple[RecordingFacts, ...] = ()
    host_ports: dict[Role, IngestPortMap] = field(default_factory=dict)  # hostNetwork allocation
    services: dict[Role, ServiceObservation] = field(default_factory=dict)  # the ingest Services as observed
    region_services: dict[str, ServiceObservation] = field(default_factory=dict)  # LoadBalancer regions', by region
    region_rejected: dict[str, str] = field(default_factory=dict)  # the server refused a region's Service
    # The ingest Pods as their Services' EndpointSlices list them (absent: no ready endpoint seen)
    endpoints: dict[Role, EndpointObservation] = field(default_factory=dict)
    settings: OperatorSettings = field(default_factory=OperatorSettings)  # addresses and route defaults
    generation: int | None = None  # the generation the reconciler acted on (default: the object's)
    service_rejected: str | None = None  # the API server refused an ingest Service (its message)
    route_rejected: str | None = None  # ... the playback Ingress/HTTPRoute
    edge_rejected: str | None = None  # ... the namespace's edge
    edge_sessions: Sessions | None = None  # the stream's viewer sessions at its namespace's edge (when on)
    tls_secret_problem: tuple[str, str] | None = None  # (reason, message): the rtmps certificate's Secret
    quality_set_problem: tuple[str, str] | None = None  # (reason, message): the quality set it names
    playback_policy_problem: tuple[str, str] | None = None  # (reason, message): the PlaybackPolicy it names
    policy_refusals: tuple[str, ...] = ()  # what the admin's tenancy policy refused (admission.py)
    route_refused: bool = False  # ... among them the playback route: none is there
    deactivation: Deactivation | None = None  # recorded on the LiveStream, in force (deactivation.py)
    restart_pending: dict[Role, str] = field(default_factory=dict)  # ingests waiting to be idle: the difference
    handovers: dict[Role, HandoverState] = field(default_factory=dict)  # handovers under way (handover.py)
    # Roles whose handover is wanted but whose last one failed (none under way): what status says.
    handover_failures: dict[Role, str] = field(default_factory=dict)


def _ingest_condition(
    pod: PodObservation,
    through: EndpointObservation | None,
    condition: str = READY,
    worker: str = "ingest",
) -> Observed:
    """Whether the ingest Pod accepts publishers where they connect (`condition`: Ready for the
    primary, BackupReady for the backup). `through`: the Service publishers reach it by and how its
    EndpointSlices list the Pod; None where no Service is in their way (the Pod's own host ports)."""
    if pod.exists and pod.evicted_from_lost_node:
        return Observed(condition, "False", reasons.INGEST_NODE_LOST, node_lost_message(pod, worker))
    if not pod.exists or pod.deleting:
        return Observed(condition, "False", reasons.INGEST_STARTING, f"creating {worker} Pod {pod.name}")
    if pod.phase == "Running" and pod.ready:
        if through is None:
            return Observed(condition, "True", reasons.INGEST_RUNNING, f"{worker} Pod {pod.name} accepts publishers")
        if through.served:
            return Observed(
                condition,
                "True",
                reasons.INGEST_RUNNING,
                f"{worker} Pod {pod.name} accepts publishers; Service {through.service} has a ready endpoint for it",
            )
        # The Pod is ready, its Service does not route to it yet (kube-proxy and load balancers
        # follow the EndpointSlice): a push now would be refused (endpoint_slices.py).
        state = "lists it as not ready" if through.listed else "have no endpoint for it yet"
        return Observed(
            condition,
            "False",
            reasons.INGEST_ENDPOINT_PENDING,
            f"{worker} Pod {pod.name} accepts publishers, but Service {through.service} does not route to it yet: "
            f"its EndpointSlices {state}",
        )
    if pod.phase == "Running":
        # Ready means an encoder can push now: the worker's listeners are up (its readiness probe),
        # not merely its container started (a push then would be refused by the Service).
        return Observed(
            condition,
            "False",
            reasons.INGEST_STARTING,
            f"{worker} Pod {pod.name} does not accept publishers: its listeners are starting, "
            "or its node stopped answering",
        )
    if pod.phase == "Pending":
        detail = f": {pod.detail}" if pod.detail else ""
        return Observed(condition, "False", reasons.INGEST_PENDING, f"{worker} Pod {pod.name} is Pending{detail}")
    return Observed(condition, "False", reasons.INGEST_FAILED, f"{worker} Pod {pod.name} is {pod.phase}: {pod.detail}")


def _through(stream: LiveStream, role: Role, reach: Reach, observed: IngestObservation) -> EndpointObservation | None:
    """The Service in the publishers' way and how its EndpointSlices list the role's Pod; None when
    publishers reach the Pod's own host ports (host networking, exposure HostNetwork), or while a
    handover of the role is under way (the Services list both Pods, the slices catch up with the
    label's move a moment later: Ready does not flap meanwhile)."""
    if reach.exposure == "HostNetwork" or role in observed.handovers:
        return None
    service = ingest_names(stream.metadata.name, role).service
    return observed.endpoints.get(role) or EndpointObservation(service)


def _rounded(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


def _live(pod: PodObservation | None, telemetry: IngestStatus | None) -> bool:
    """Only the worker's own word: the Pod is Ready as soon as it accepts publishers, long before
    (and after) media flows, so readiness says nothing about `live`."""
    if pod is None or not pod.exists or pod.deleting or telemetry is None:
        return False
    return telemetry.live


def _active_ingest(pod: PodObservation | None, telemetry: IngestStatus | None) -> Role | None:
    """Whose media the primary ingest serves: playback, recordings and restreams all read it there.
    None without a primary to serve anything, even while the backup receives media."""
    if pod is None or not pod.exists or pod.deleting or telemetry is None:
        return None
    # A worker that predates the field serves its own media, whenever it is live.
    return telemetry.active_ingest or ("primary" if telemetry.live else None)


def _node_of(pod: PodObservation | None) -> str:
    """The address of the node a running ingest Pod is on (status.hostIP), else ""."""
    return pod.host_ip if pod is not None and pod.running else ""


def _reach(stream: LiveStream, role: Role, observed: IngestObservation) -> Reach:
    given = reach_inputs(
        stream, role, observed.settings, observed.host_ports.get(role), _node_of(observed.pods.get(role))
    )
    return ingest_reach(observed.services.get(role), given)


def _srt_key_message(stream: LiveStream, problem: str) -> str:
    ref = stream_key_ref(stream)
    where = f" in Secret {ref.name} (key {ref.key})" if ref else ""
    others = [p for p in (stream.spec.source.push.protocols if stream.spec.source.push else []) if p != "srt"]
    still = f"; {' and '.join(others)} publishers are accepted with it" if others else ""
    return (
        f"SRT cannot use the stream key{where} as its passphrase: {problem} (SRT needs "
        f"{SRT_PASSPHRASE_MIN} to {SRT_PASSPHRASE_MAX} characters of printable text). The SRT listener stays off "
        "until the key is changed "
        f"(no restart needed) or srt is removed from source.push.protocols{still}"
    )


def _pending_part(stream: LiveStream, part: str) -> str:
    """A waiting difference as RestartPending names it: a ladder from a quality set names the set."""
    ref = quality_set_ref(stream)
    return f"{part} (from {ref.kind} {ref.name})" if ref is not None and part.startswith(LADDER_PARTS) else part


# --- the status as an ordered chain of small pure policies (in cert-manager's manner) ------------


@dataclass(frozen=True)
class Seen:
    """What every policy reads: the observation, and what it says once read (whose media is on air,
    which Recording runs), worked out once."""

    observed: IngestObservation
    now: datetime
    previous: LiveStreamStatus
    generation: int | None
    primary: PodObservation
    backup: PodObservation | None
    main: IngestStatus | None  # the primary's report
    spare: IngestStatus | None  # the backup's
    # Recorded on the object (no ingest runs), or said by the worker that gave up (not recorded yet).
    deactivated: bool
    active: bool  # asked for and not deactivated
    reaches: dict[Role, Reach]
    live: bool
    backup_live: bool
    active_ingest: Role | None
    # What is on air: the primary measures the backup's media it relays; else the backup's own media
    # while the primary is not there to relay it.
    on_air: IngestStatus | None
    running: RecordingFacts | None  # the Recording that records now


def _seen(stream: LiveStream, observed: IngestObservation, now: datetime) -> Seen:
    primary = observed.pods.get("primary", PodObservation(ingest_names(stream.metadata.name, "primary").pod))
    backup = observed.pods.get("backup")
    main, spare = observed.telemetry.get("primary"), observed.telemetry.get("backup")
    deactivated = observed.deactivation is not None or (main is not None and not main.active)
    active = stream.spec.active and not deactivated
    backup_live = bool(active and _live(backup, spare))
    active_ingest = _active_ingest(primary, main) if active else None
    return Seen(
        observed=observed,
        now=now,
        previous=stream.status or LiveStreamStatus(),
        generation=observed.generation if observed.generation is not None else stream.metadata.generation,
        primary=primary,
        backup=backup,
        main=main,
        spare=spare,
        deactivated=deactivated,
        active=active,
        reaches={role: _reach(stream, role, observed) for role in ingest_roles(stream)},
        live=active and _live(primary, main),
        backup_live=backup_live,
        active_ingest=active_ingest,
        on_air=main if active_ingest is not None else (spare if backup_live else None),
        running=next((r for r in observed.recordings if r.recording), None),
    )


@dataclass(frozen=True)
class Draft:
    """The status so far: its conditions in their order (before time bookkeeping) and its fields."""

    conditions: tuple[Observed, ...] = ()
    fields: Mapping[str, object] = field(default_factory=dict)

    def adding(self, *conditions: Observed, **fields: object) -> Draft:
        return Draft((*self.conditions, *conditions), {**self.fields, **fields})


# A status policy: what it decides of the status, added to the status so far.
Policy = Callable[[LiveStream, Seen, Draft], Draft]
# A rule of Ready's priority: the Ready (and Stalled) conditions it decides, None when it does not apply.
ReadyRule = Callable[[LiveStream, Seen], tuple[Observed, ...] | None]


def _stalled(reason: str, message: str) -> tuple[Observed, ...]:
    """Not Ready and Stalled: what the spec asks for cannot be had until the spec (or what it names)
    changes; meanwhile a running ingest goes on as it is."""
    return Observed(READY, "False", reason, message), Observed(STALLED, "True", reason, message)


def _refused_by_policy(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    refusals = seen.observed.policy_refusals
    return _stalled(reasons.REFUSED_BY_POLICY, "; ".join(refusals)[:4096]) if refusals else None


def _service_rejected(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    rejected = seen.observed.service_rejected
    return _stalled(reasons.SERVICE_REJECTED, rejected) if rejected else None


def _route_rejected(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    rejected = seen.observed.route_rejected
    return _stalled(reasons.PLAYBACK_ROUTE_REJECTED, rejected) if rejected else None


def _edge_rejected(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    rejected = seen.observed.edge_rejected
    return _stalled(reasons.EDGE_REJECTED, rejected) if rejected else None


def _key_secret_missing(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    missing = seen.observed.key_secret_missing
    if not missing:
        return None
    message = f"Secret {missing} named in source.push.streamKeySecretRef does not exist"
    return _stalled(reasons.STREAM_KEY_SECRET_NOT_FOUND, message)


def _key_invalid_for_srt(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    # Only the user can fix the key; meanwhile the ingest runs without its SRT listener (RTMP works).
    problem = seen.observed.key_invalid_for_srt
    return _stalled(reasons.STREAM_KEY_INVALID_FOR_SRT, _srt_key_message(stream, problem)) if problem else None


def _tls_secret_problem(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    # No ingest runs until the certificate's Secret is usable (cert-manager may still be issuing it).
    problem = seen.observed.tls_secret_problem
    return _stalled(*problem) if problem else None


def _switched_off(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    if stream.spec.active:
        return None
    return (
        Observed(READY, "True", reasons.INACTIVE, "stream is switched off (spec.active false): pushes are refused"),
    )


def _deactivated(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    # Not Ready: the spec asks for a running stream, and only the user can have one again. Not
    # Stalled: nothing failed (GitOps tools would report the stream's whole application degraded).
    if not seen.deactivated:
        return None
    recorded = seen.observed.deactivation
    why = recorded.reason if recorded else (seen.main and seen.main.deactivated_reason) or NO_DATA
    return (Observed(READY, "False", reasons.DEACTIVATED, deactivated_message(why)),)


def _quality_set_problem(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    # Only the set's author can fix it; meanwhile a running ingest goes on with the ladder it has.
    problem = seen.observed.quality_set_problem
    return _stalled(*problem) if problem else None


def _playback_policy_problem(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    # The ingest runs (publishers are taken); its viewers are refused until the policy exists.
    problem = seen.observed.playback_policy_problem
    return _stalled(*problem) if problem else None


# Ready's priority: the first rule that applies decides Ready (and Stalled); when none does, the
# primary ingest's Pod does (_ingest_ready). What the API server or the admin refused comes first: the
# spec must change; then what the user must fix; then the stream switched off or given up.
READY_PRIORITY: tuple[ReadyRule, ...] = (
    _refused_by_policy,
    _service_rejected,
    _route_rejected,
    _edge_rejected,
    _key_secret_missing,
    _key_invalid_for_srt,
    _tls_secret_problem,
    _switched_off,
    _deactivated,
    _quality_set_problem,
    _playback_policy_problem,
)


def ready_of_the_stream(stream: LiveStream, seen: Seen) -> tuple[Observed, ...] | None:
    """Ready as a reason of the stream decides it (READY_PRIORITY's first), None: as its Pods do."""
    return next((said for rule in READY_PRIORITY if (said := rule(stream, seen)) is not None), None)


def _identity(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    return draft.adding(
        observed_generation=seen.generation,
        live=seen.live,
        backup_live=seen.backup_live,
        active_ingest=seen.active_ingest,
        active=seen.active,
    )


def _ingest_ready(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    said = ready_of_the_stream(stream, seen)
    if said is not None:
        return draft.adding(*said)
    ready = _ingest_condition(seen.primary, _through(stream, "primary", seen.reaches["primary"], seen.observed))
    if ready.status == "True":
        return draft.adding(ready)
    return draft.adding(ready, Observed(RECONCILING, "True", ready.reason, ready.message))


def _backup_ready(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    """The backup's own condition: a backup that cannot start does not make a stream that plays,
    records and restreams from its primary not Ready (GitOps tools would hold its application). A
    reason of the stream (not of its Pods) is the backup's too."""
    if "backup" not in seen.reaches:
        return draft
    said = ready_of_the_stream(stream, seen)
    if said is not None:
        return draft.adding(Observed(BACKUP_READY, said[0].status, said[0].reason, said[0].message))
    pod = seen.backup or PodObservation(ingest_names(stream.metadata.name, "backup").pod)
    through = _through(stream, "backup", seen.reaches["backup"], seen.observed)
    return draft.adding(_ingest_condition(pod, through, BACKUP_READY, "backup ingest"))


def _live_condition(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    main = seen.main
    if seen.live:
        return draft.adding(Observed("Live", "True", reasons.MEDIA_FLOWING, "the primary ingest receives media"))
    if seen.active and main is not None and main.pull_failure is not None and seen.active_ingest is None:
        return draft.adding(_pull_not_live(main))
    no_media = "no media is arriving"
    if seen.active_ingest == "backup":
        no_media = "the primary ingest receives no media: the backup ingest's media is on air (activeIngest)"
    return draft.adding(Observed("Live", "False", _not_live_reason(seen.active, seen.deactivated), no_media))


def _backup_live_condition(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    if "backup" not in ingest_roles(stream):
        return draft
    if seen.backup_live:
        return draft.adding(Observed("BackupLive", "True", reasons.MEDIA_FLOWING, "the backup ingest receives media"))
    reason = reasons.NO_MEDIA if seen.active else reasons.INACTIVE
    return draft.adding(Observed("BackupLive", "False", reason, "no media is arriving"))


def _recording(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    running = seen.running
    if running is None:
        condition = Observed("Recording", "False", reasons.NOT_RECORDING, "no Recording is running")
        return draft.adding(condition, recording=False, recording_duration=None)
    condition = Observed("Recording", "True", reasons.RECORDING, f"Recording {running.name} is recording")
    return draft.adding(condition, recording=True, recording_duration=_rounded(running.duration, 0))


def _playability(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    draft = draft.adding(browser_playability(seen.on_air, transcoded=stream.spec.has_ladder))
    if not whep_on(stream, seen.observed.settings.playback):
        return draft
    return draft.adding(webrtc_playability(seen.main if seen.main is not None and seen.main.live else None))


def _overlays(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    overlays = stream_overlays(stream, seen.main if seen.active else None)
    condition = overlays_condition(stream, overlays)
    return draft.adding(*([condition] if condition is not None else []), overlays=overlays)


def _restart_pending(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    waiting = {f"{role} ingest": _pending_part(stream, part) for role, part in seen.observed.restart_pending.items()}
    pending = restart_pending(waiting)
    failures = seen.observed.handover_failures
    if not pending and failures:
        # Still pending (the difference is there, the next try is due later): why the last one failed.
        message = "; ".join(failures[role] for role in sorted(failures))
        pending = [Observed(RESTART_PENDING, "True", HANDOVER_FAILED, message[:4096])]
    under_way = seen.observed.handovers
    if under_way:
        # The primary's first: its step is the condition's reason (the backup's may be waiting for it).
        states = [under_way[role] for role in sorted(under_way, key=lambda r: r != "primary")]
        message = "; ".join(s.message for s in states)
        pending.append(Observed(HANDING_OVER, "True", states[0].step, message[:4096]))
    return draft.adding(*pending)


def _endpoints(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    observed, settings = seen.observed, seen.observed.settings
    route = None if observed.route_refused else playback_route(stream, settings)
    base = playback_base(route, seen.reaches["primary"])
    regions = region_reaches(
        observed.services.get("primary"),
        settings.ingest.regions,
        observed.region_services,
        observed.region_rejected,
        regional_load_balancers_allowed(stream.spec.ingest.service.type, settings),
        _node_of(observed.pods.get("primary")),
    )
    return draft.adding(
        ingest=ingest_endpoints(stream, seen.reaches, base, settings.ingest.publish_over_http, regions),
        # What the player page renders now: the primary's report (spec.playback.projection once applied).
        playback=playback_urls(
            stream,
            base,
            whep_on(stream, settings.playback),
            seen.main.projection if seen.main else None,
            seen.reaches["primary"],
        ),
    )


def _history(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    """Times are history: a worker that restarted (and forgot them) does not erase them."""
    main, spare, previous = seen.main, seen.spare, seen.previous
    return draft.adding(
        started_at_primary=(main and main.started_at) or previous.started_at_primary,
        started_at_backup=(spare and spare.started_at) or previous.started_at_backup,
        finished_at_primary=(main and main.finished_at) or previous.finished_at_primary,
    )


def _on_air_metrics(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    """Live metrics exist only while live (the hosted API's "current FPS ... if transcoding"), of
    what is on air; the protocol of the ingest whose publisher sends it (the primary relays a
    backup's: the backup)."""
    metrics = seen.on_air or IngestStatus()
    publisher = {"primary": seen.main, "backup": seen.spare}.get(seen.active_ingest) if seen.active_ingest else None
    return draft.adding(
        transcoding_speed=_rounded(metrics.transcoding_speed, 2),
        frame_rate=_rounded(metrics.frame_rate, 1),
        video_width=metrics.video_width,
        video_height=metrics.video_height,
        video_codec=metrics.video_codec or None,
        video_profile=metrics.video_profile or None,
        pixel_format=metrics.pixel_format or None,
        bit_depth=metrics.bit_depth if metrics.bit_depth and 0 < metrics.bit_depth <= 32 else None,  # (API bounds)
        audio_codec=metrics.audio_codec or None,
        protocol=session_protocol(publisher.source if publisher is not None else None),
        bitrate=metrics.bitrate,
    )


def _audience(stream: LiveStream, seen: Seen, draft: Draft) -> Draft:
    main = seen.main
    return draft.adding(
        viewers=stream_viewers(main, seen.observed.edge_sessions),
        transcoded_qualities=transcoded_qualities(main if seen.active else None),
        sessions=merged_sessions(seen.previous.sessions, reporting(main, seen.spare), seen.now, seen.active) or None,
    )


# The status, policy by policy; the conditions come out in this order.
STATUS_POLICIES: tuple[Policy, ...] = (
    _identity,
    _ingest_ready,
    _backup_ready,
    _live_condition,
    _backup_live_condition,
    _recording,
    _playability,
    _overlays,
    _restart_pending,
    _endpoints,
    _history,
    _on_air_metrics,
    _audience,
)


def livestream_status(stream: LiveStream, observed: IngestObservation, now: datetime) -> LiveStreamStatus:
    """The observation read once (Seen), then each of STATUS_POLICIES in order adds its conditions
    and fields; one LiveStreamStatus at the end."""
    seen = _seen(stream, observed, now)
    draft = Draft()
    for policy in STATUS_POLICIES:
        draft = policy(stream, seen, draft)
    conditions = merge_conditions(seen.previous.conditions, list(draft.conditions), seen.generation, now)
    return LiveStreamStatus.model_validate({**draft.fields, "conditions": conditions})


def transcoded_qualities(main: IngestStatus | None) -> list[str] | None:
    """What the running primary ingest encodes, tallest first (its own word: it reports what its
    configuration makes it encode); unset for passthrough or while no ingest runs."""
    return list(main.transcoded_qualities) if main is not None and main.transcoded_qualities else None


def merged_sessions(
    previous: list[PublishSession] | None,
    reports: Mapping[IngestRole, IngestStatus],
    now: datetime,
    active: bool = True,
) -> list[PublishSession]:
    """status.sessions: what status holds, updated by what the ingests report now (a session is its
    ingest and start: a report replaces the session it holds), the newest SESSIONS_KEPT, oldest
    first. An ingest that restarted forgot its sessions; status still has them. A session status
    shows open that its ingest no longer reports (a new ingest process reports, or the stream was
    switched off) is over: it ends `now`, when streamops saw it gone (an upper bound; its Pod
    went away meanwhile). While its ingest reports nothing (a Pod pending, an unanswered poll) it
    stays open: it may still be on."""
    by_key = {(s.ingest, s.started_at): s for s in previous or []}
    for report in reports.values():
        for session in report.sessions:
            by_key[session.ingest, session.started_at] = session
    reported = {(s.ingest, s.started_at) for report in reports.values() for s in report.sessions}
    for key, session in by_key.items():
        if session.ended_at is None and key not in reported and (session.ingest in reports or not active):
            by_key[key] = session.model_copy(update={"ended_at": now})
    return sorted(by_key.values(), key=lambda s: (s.started_at, s.ingest))[-SESSIONS_KEPT:]


def reporting(main: IngestStatus | None, spare: IngestStatus | None) -> dict[IngestRole, IngestStatus]:
    """The ingests' reports by role, those that report."""
    pairs: tuple[tuple[IngestRole, IngestStatus | None], ...] = (("primary", main), ("backup", spare))
    return {role: report for role, report in pairs if report is not None}


def session_protocol(source: str | None) -> SessionProtocol | None:
    """The ingest's session kind (rtmp, srt, whip, pull-<n>) as status says it."""
    if source is None:
        return None
    if source.startswith("pull"):
        return "pull"
    known: dict[str, SessionProtocol] = {"rtmp": "rtmp", "srt": "srt", "whip": "whip"}
    return known.get(source)


def stream_viewers(main: IngestStatus | None, edge: Sessions | None) -> Viewers:
    """The union of the ingest's own sessions and the edge replicas' (a session counted once); zeros
    while nothing reports any (always there, so the column says 0 rather than nothing, and a stream
    that stops does not make the field come and go)."""
    own = main.viewers if main is not None else None
    ingest: Sessions = {p: set(getattr(own.sessions, p)) for p in PROTOCOLS} if own is not None else {}
    merged = merge_sessions([ingest, edge or {}])
    counts = {p: len(merged[p]) for p in PROTOCOLS}
    if own is not None and own.truncated:  # its lists were cut: its counts are the better lower bound
        counts = {p: max(counts[p], getattr(own.counts, p)) for p in PROTOCOLS}
    webrtc = own.counts.webrtc if own is not None else 0
    srt, rtsp = (own.counts.srt, own.counts.rtsp) if own is not None else (0, 0)  # connections: no sessions to merge
    return Viewers(
        total=sum(counts.values()) + webrtc + srt + rtsp,
        webrtc=webrtc,
        srt=srt,
        rtsp=rtsp,
        window_seconds=round(own.window_seconds) if own is not None else VIEWER_WINDOW_SECONDS,
        **counts,
    )


PULL_FAILURE_REASONS = {
    "credentials-refused": reasons.PULL_CREDENTIALS_REFUSED,
    "credentials-unreadable": reasons.PULL_CREDENTIALS_UNREADABLE,
    "failed": reasons.PULL_FAILED,
}


def _pull_not_live(telemetry: IngestStatus) -> Observed:
    """Live False with why the last pull attempt gave nothing (status.pullFailure). The worker's
    message is redacted and its URL the spec's; any userinfo is masked again here all the same."""
    failed = telemetry.pull_failure
    assert failed is not None
    message = Redactor()(f"no media is arriving: pull URL #{failed.url_index} ({failed.url}): {failed.message}")
    return Observed("Live", "False", PULL_FAILURE_REASONS[failed.kind], message)


def _not_live_reason(active: bool, deactivated: bool) -> str:
    if active:
        return reasons.NO_MEDIA
    return reasons.DEACTIVATED if deactivated else reasons.INACTIVE


# Not-Ready reasons that are news even when Ready was False already (condition_transitions posts
# only the True -> False change): the node died under an ingest still starting; a pull stream
# deactivated before its ingest was ever Ready.
NEWS_WHILE_NOT_READY = (reasons.INGEST_NODE_LOST, reasons.DEACTIVATED)
# Live reasons that are a Warning when Live turns to them (Live stays False: condition_transitions is silent).
NEWS_WHILE_NOT_LIVE = (reasons.PULL_CREDENTIALS_REFUSED, reasons.PULL_CREDENTIALS_UNREADABLE)


def _not_live_news_events(previous: list[Condition], current: list[Condition]) -> list[Transition]:
    """A Warning when a pull stream's camera refuses its credentials (or they cannot be read), once
    per change of reason, not on every failed attempt."""
    before = next((c for c in previous if c.type == "Live"), None)
    now = next((c for c in current if c.type == "Live"), None)
    if now is None or now.status != "False" or now.reason not in NEWS_WHILE_NOT_LIVE:
        return []
    if before is not None and before.status == "False" and before.reason == now.reason:
        return []
    return [Transition("Warning", now.reason, now.message or now.reason)]


def _not_ready_news_events(previous: list[Condition], current: list[Condition]) -> list[Transition]:
    """A Warning when Ready turns to one of NEWS_WHILE_NOT_READY while it stays False; none on the
    first visit (status lost: nothing happened that the Events did not say already)."""
    before = next((c for c in previous if c.type == READY), None)
    now = next((c for c in current if c.type == READY), None)
    if now is None or now.status != "False" or now.reason not in NEWS_WHILE_NOT_READY:
        return []
    if before is None or before.status != "False" or before.reason == now.reason:
        return []
    return [Transition("Warning", now.reason, now.message or now.reason)]


def _playability_events(previous: list[Condition], current: list[Condition]) -> list[Transition]:
    """A Warning when BrowserPlayable turns False, or gives another reason while False (the encoder's
    settings changed): once per live session that will not play, not on every status write."""
    before = next((c for c in previous if c.type == BROWSER_PLAYABLE), None)
    now = next((c for c in current if c.type == BROWSER_PLAYABLE), None)
    if now is None or now.status != "False":
        return []
    if before is not None and before.status == "False" and before.reason == now.reason:
        return []
    return [Transition("Warning", NOT_BROWSER_PLAYABLE, f"{now.reason}: {now.message}")]


def _switch_events(previous: LiveStreamStatus | None, current: LiveStreamStatus) -> list[Transition]:
    """The backup's media went on air, or the primary's came back (status.activeIngest)."""
    before, now = (previous.active_ingest if previous else None), current.active_ingest
    if now == before or now is None:
        return []
    # A planned switchover (handover.py) is no outage: said as Normal, and why.
    planned = any(c.type == HANDING_OVER and c.status == "True" for c in current.conditions)
    if now == "backup" and planned:
        what = "switched to the backup ingest for the primary ingest's handover (a planned switchover): playback, "
        what += "recordings and restreams go on from it"
        return [Transition("Normal", reasons.BACKUP_TOOK_OVER, what)]
    if now == "backup":
        what = "the primary ingest receives no media: playback, recordings and restreams go on from the backup ingest"
        return [Transition("Warning", reasons.BACKUP_TOOK_OVER, what)]
    if before == "backup":
        what = "the primary ingest's media is back on air: its publisher sent for failback.stableSeconds, unbroken"
        return [Transition("Normal", reasons.PRIMARY_RESTORED, what)]
    return []


def _webrtc_events(previous: list[Condition], current: list[Condition]) -> list[Transition]:
    """A Warning when WebRtcPlayable turns False, or gives another reason while False."""
    before = next((c for c in previous if c.type == WEBRTC_PLAYABLE), None)
    now = next((c for c in current if c.type == WEBRTC_PLAYABLE), None)
    if now is None or now.status != "False":
        return []
    if before is not None and before.status == "False" and before.reason == now.reason:
        return []
    return [Transition("Warning", reasons.WEBRTC_NOT_PLAYABLE, f"{now.reason}: {now.message}")]


def publisher_refusal_events(before: IngestStatus | None, now: IngestStatus | None) -> list[Transition]:
    """A Warning when the primary ingest refused WHIP offers since the last look (its counter; a
    restarted worker counts from 0 again), with the last answer: bad input that concerns the stream
    (a wrong key, a second publisher, an offer without H.264 or Opus). One Event per look, however
    many offers: a publisher retrying in a loop does not flood the namespace's Events."""
    after = now.webrtc if now is not None else None
    if after is None or not after.whip_refused:
        return []
    seen = before.webrtc.whip_refused if before is not None and before.webrtc is not None else 0
    new = after.whip_refused - seen if after.whip_refused >= seen else after.whip_refused
    if new <= 0:
        return []
    offers = "offer" if new == 1 else "offers"
    return [
        Transition(
            "Warning",
            reasons.WHIP_PUBLISHER_REFUSED,
            f"{new} WHIP {offers} refused; the last answer: {after.last_whip_refusal or 'unknown'}",
        )
    ]


def ice_servers_events(before: IngestStatus | None, now: IngestStatus | None) -> list[Transition]:
    """A Warning when the primary ingest cannot give WebRTC clients the STUN/TURN servers of
    playback.webrtc.iceServersSecretRef (the Secret or key missing, not RTCIceServer JSON), once per
    new reason: the worker validates the file (the operator never reads that Secret). Its reason
    names the field, never a credential."""
    problem = now.webrtc.ice_servers_problem if now is not None and now.webrtc is not None else None
    seen = before.webrtc.ice_servers_problem if before is not None and before.webrtc is not None else None
    if problem is None or problem == seen:
        return []
    return [Transition("Warning", reasons.ICE_SERVERS_INVALID, f"WebRTC clients get no STUN/TURN servers: {problem}")]


def livestream_events(previous: LiveStreamStatus | None, current: LiveStreamStatus) -> list[Transition]:
    """Went live / went offline (primary and backup), the backup took over / the primary is back;
    nothing on the first visit of an offline stream."""
    events = condition_transitions(previous.conditions if previous else [], current.conditions)
    events += _webrtc_events(previous.conditions if previous else [], current.conditions)
    events += _switch_events(previous, current)
    events += _not_ready_news_events(previous.conditions if previous else [], current.conditions)
    events += _not_live_news_events(previous.conditions if previous else [], current.conditions)
    events += _playability_events(previous.conditions if previous else [], current.conditions)
    events += overlay_events(previous.conditions if previous else [], current.conditions)
    for field_name, went_live, went_offline in (
        ("live", reasons.WENT_LIVE, reasons.WENT_OFFLINE),
        ("backup_live", reasons.BACKUP_WENT_LIVE, reasons.BACKUP_WENT_OFFLINE),
    ):
        before = bool(previous and getattr(previous, field_name))
        now = getattr(current, field_name)
        if before == now or (previous is None and not now):
            continue
        ingest = "backup ingest" if field_name == "backup_live" else "ingest"
        if now:
            events.append(Transition("Normal", went_live, f"media arrives at the {ingest}"))
        else:
            events.append(Transition("Normal", went_offline, f"no media at the {ingest}"))
    return events

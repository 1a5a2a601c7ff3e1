"""LiveStream status, computed only from what is observed (level-based)."""

from __future__ import annotations

from collections.abc import Mapping
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
from streamops.control.shared.conditions import (
    BACKUP_READY,
    READY,
    RECONCILING,
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
    policy_refusals: tuple[str, ...] = ()  # what the admin's tenancy policy refused (admission.py)
    route_refused: bool = False  # ... among them the playback route: none is there
    deactivation: Deactivation | None = None  # recorded on the LiveStream, in force (deactivation.py)
    restart_pending: dict[Role, str] = field(default_factory=dict)  # ingests waiting to be idle: the difference


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
    publishers reach the Pod's own host ports (host networking, exposure HostNetwork)."""
    if reach.exposure == "HostNetwork":
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


def livestream_status(stream: LiveStream, observed: IngestObservation, now: datetime) -> LiveStreamStatus:
    previous = stream.status or LiveStreamStatus()
    generation = observed.generation if observed.generation is not None else stream.metadata.generation
    primary = observed.pods.get("primary", PodObservation(ingest_names(stream.metadata.name, "primary").pod))
    backup = observed.pods.get("backup")
    main = observed.telemetry.get("primary")
    spare = observed.telemetry.get("backup")
    # Recorded on the object (no ingest runs), or said by the worker that gave up (not recorded yet).
    deactivated = observed.deactivation is not None or (main is not None and not main.active)
    active = stream.spec.active and not deactivated

    reaches = {role: _reach(stream, role, observed) for role in ingest_roles(stream)}
    conditions: list[Observed]
    ingest_runs = False  # (else Ready gives a reason of the stream, not of its Pods: BackupReady says the same)
    refused = (
        (reasons.REFUSED_BY_POLICY, "; ".join(observed.policy_refusals)[:4096])
        if observed.policy_refusals
        else (reasons.SERVICE_REJECTED, observed.service_rejected)
        if observed.service_rejected
        else (reasons.PLAYBACK_ROUTE_REJECTED, observed.route_rejected)
        if observed.route_rejected
        else (reasons.EDGE_REJECTED, observed.edge_rejected)
        if observed.edge_rejected
        else None
    )
    if refused is not None:
        # What the spec asks for cannot be had until the spec changes; the ingest keeps running as it is.
        conditions = [Observed(READY, "False", *refused), Observed(STALLED, "True", *refused)]
    elif observed.key_secret_missing:
        reason, message = (
            reasons.STREAM_KEY_SECRET_NOT_FOUND,
            f"Secret {observed.key_secret_missing} named in source.push.streamKeySecretRef does not exist",
        )
        conditions = [
            Observed(READY, "False", reason, message),
            Observed(STALLED, "True", reason, message),
        ]
    elif observed.key_invalid_for_srt:
        # Only the user can fix the key; meanwhile the ingest runs without its SRT listener (RTMP works).
        message = _srt_key_message(stream, observed.key_invalid_for_srt)
        conditions = [
            Observed(READY, "False", reasons.STREAM_KEY_INVALID_FOR_SRT, message),
            Observed(STALLED, "True", reasons.STREAM_KEY_INVALID_FOR_SRT, message),
        ]
    elif observed.tls_secret_problem:
        # No ingest runs until the certificate's Secret is usable (cert-manager may still be issuing it).
        reason, message = observed.tls_secret_problem
        conditions = [Observed(READY, "False", reason, message), Observed(STALLED, "True", reason, message)]
    elif not stream.spec.active:
        conditions = [
            Observed(READY, "True", reasons.INACTIVE, "stream is switched off (spec.active false): pushes are refused")
        ]
    elif deactivated:
        # Not Ready: the spec asks for a running stream, and only the user can have one again. Not
        # Stalled: nothing failed (GitOps tools would report the stream's whole application degraded).
        why = observed.deactivation.reason if observed.deactivation else (main and main.deactivated_reason) or NO_DATA
        conditions = [Observed(READY, "False", reasons.DEACTIVATED, deactivated_message(why))]
    elif observed.quality_set_problem:
        # Only the set's author can fix it; meanwhile a running ingest goes on with the ladder it has.
        reason, message = observed.quality_set_problem
        conditions = [Observed(READY, "False", reason, message), Observed(STALLED, "True", reason, message)]
    else:
        ingest_runs = True
        ready = _ingest_condition(primary, _through(stream, "primary", reaches["primary"], observed))
        conditions = [ready]
        if ready.status != "True":
            conditions.append(Observed(RECONCILING, "True", ready.reason, ready.message))
    if "backup" in reaches:
        # The backup's own condition: a backup that cannot start does not make a stream that plays,
        # records and restreams from its primary not Ready (GitOps tools would hold its application).
        said = conditions[0]
        conditions.append(
            _ingest_condition(
                backup or PodObservation(ingest_names(stream.metadata.name, "backup").pod),
                _through(stream, "backup", reaches["backup"], observed),
                BACKUP_READY,
                "backup ingest",
            )
            if ingest_runs
            else Observed(BACKUP_READY, said.status, said.reason, said.message)
        )

    live = active and _live(primary, main)
    backup_live = bool(active and _live(backup, spare))
    active_ingest = _active_ingest(primary, main) if active else None
    no_media = "no media is arriving"
    if active_ingest == "backup":
        no_media = "the primary ingest receives no media: the backup ingest's media is on air (activeIngest)"
    conditions.append(
        Observed("Live", "True", reasons.MEDIA_FLOWING, "the primary ingest receives media")
        if live
        else _pull_not_live(main)
        if active and main is not None and main.pull_failure is not None and active_ingest is None
        else Observed("Live", "False", _not_live_reason(active, deactivated), no_media)
    )
    if "backup" in ingest_roles(stream):
        conditions.append(
            Observed("BackupLive", "True", reasons.MEDIA_FLOWING, "the backup ingest receives media")
            if backup_live
            else Observed(
                "BackupLive", "False", reasons.NO_MEDIA if active else reasons.INACTIVE, "no media is arriving"
            )
        )
    running = next((r for r in observed.recordings if r.recording), None)
    conditions.append(
        Observed("Recording", "True", reasons.RECORDING, f"Recording {running.name} is recording")
        if running
        else Observed("Recording", "False", reasons.NOT_RECORDING, "no Recording is running")
    )
    # The metrics of what is on air (the primary measures the backup's media it relays), else of
    # the backup's own media while the primary is not there to relay it.
    on_air = main if active_ingest is not None else (spare if backup_live else None)
    route = None if observed.route_refused else playback_route(stream, observed.settings)
    base = playback_base(route, reaches["primary"])
    metrics = on_air or IngestStatus()  # live metrics exist only while live
    # The ingest whose publisher sends what is on air (the primary relays a backup's: the backup).
    publisher = {"primary": main, "backup": spare}.get(active_ingest) if active_ingest else None
    conditions.append(browser_playability(on_air, transcoded=stream.spec.has_ladder))
    if whep_on(stream, observed.settings):
        conditions.append(webrtc_playability(main if main is not None and main.live else None))
    overlays = stream_overlays(stream, main if active else None)
    if (overlays_now := overlays_condition(stream, overlays)) is not None:
        conditions.append(overlays_now)
    conditions += restart_pending(
        {f"{role} ingest": _pending_part(stream, part) for role, part in observed.restart_pending.items()}
    )

    return LiveStreamStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, conditions, generation, now),
        live=live,
        backup_live=backup_live,
        active_ingest=active_ingest,
        active=active,
        ingest=ingest_endpoints(
            stream,
            reaches,
            base,
            observed.settings.publish_over_http,
            region_reaches(
                observed.services.get("primary"),
                observed.settings.ingest_regions,
                observed.region_services,
                observed.region_rejected,
                regional_load_balancers_allowed(stream.spec.ingest.service.type, observed.settings),
                _node_of(observed.pods.get("primary")),
            ),
        ),
        # What the player page renders now: the primary's report (spec.playback.projection once applied).
        playback=playback_urls(stream, base, whep_on(stream, observed.settings), main.projection if main else None),
        # Times are history: a worker that restarted (and forgot them) does not erase them.
        started_at_primary=(main and main.started_at) or previous.started_at_primary,
        started_at_backup=(spare and spare.started_at) or previous.started_at_backup,
        finished_at_primary=(main and main.finished_at) or previous.finished_at_primary,
        recording=running is not None,
        recording_duration=_rounded(running.duration, 0) if running else None,
        # Live metrics exist only while live (the hosted API's "current FPS ... if transcoding").
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
        viewers=stream_viewers(main, observed.edge_sessions),
        transcoded_qualities=transcoded_qualities(main if active else None),
        sessions=merged_sessions(previous.sessions, reporting(main, spare), now, active) or None,
        overlays=overlays,
    )


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
    return Viewers(
        total=sum(counts.values()) + webrtc,
        webrtc=webrtc,
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

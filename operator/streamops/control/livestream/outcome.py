"""What a LiveStream's reconcile (reconcile.py) tells its status loop: pure data, so that the loop's
decide (decide.py) reads it without reaching the reconciler's API client."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamops.contract.ingest import Role
from streamops.control.livestream.deactivation import Deactivation
from streamops.control.livestream.handover_abort import HandoverCancel
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.restarts import PodChange


@dataclass(frozen=True)
class StreamOutcome:
    """What reconciling found that only the API can tell (the status loop cannot ask cheaply)."""

    generation: int | None
    invalid_spec: str | None = None
    key_secret_missing: str | None = None
    key_invalid_for_srt: str | None = None  # why SRT cannot use the referenced key (never the key itself)
    host_ports: dict[Role, IngestPortMap] = field(default_factory=dict)
    service_rejected: str | None = None  # the API server's answer to an ingest Service it refused
    region_rejected: dict[str, str] = field(default_factory=dict)  # ... to a LoadBalancer region's, by region
    route_rejected: str | None = None  # ... to the playback Ingress/HTTPRoute (or: its API is not served)
    edge_rejected: str | None = None  # ... to the namespace's edge (Deployment, Service, autoscaler, routes)
    edge: bool = False  # viewers come through the namespace's edge (its viewer sessions count)
    tls_secret_problem: tuple[str, str] | None = None  # (reason, message): the rtmps certificate's Secret
    quality_set_problem: tuple[str, str] | None = None  # (reason, message): the quality set it names
    playback_policy_problem: tuple[str, str] | None = None  # (reason, message): the PlaybackPolicy it names
    # What the admin's tenancy policy refused (admission.py), as status says it; and whether that
    # was the playback route (status then shows no route's URLs).
    policy_refusals: tuple[str, ...] = ()
    route_refused: bool = False
    # The ingest Pods this reconcile created, as the API server answered the create: the status
    # shows them before the Pod watch does (one status write instead of "creating" then "Pending").
    created: dict[Role, PodObservation] = field(default_factory=dict)
    # A pull stream's deactivation in force (deactivation.py): no ingest runs. With the annotation's
    # value as this reconcile read it (the loop reconciles again when the object shows another), and
    # whether this reconcile recorded a worker's report (in force once the object shows it).
    deactivation: Deactivation | None = None
    deactivation_annotation: str | None = None
    deactivation_recorded: bool = False
    # An ingest Pod this reconcile replaced, or keeps until its stream is idle (restarts.py), with
    # the first difference: the loop posts an Event for each, status says RestartPending for a wait.
    pod_changes: dict[Role, PodChange] = field(default_factory=dict)
    # A successor this reconcile found no longer wanted: the loop cancels it unless it is past the
    # point of no return (handover.py).
    handover_cancels: dict[Role, HandoverCancel] = field(default_factory=dict)
    replaced: dict[Role, str] = field(default_factory=dict)  # the Pod a `replace` deleted (either slot)
    # Why the running backup's spread from its primary could only be preferred (placement.py; None:
    # required, or no backup): the loop says it when the two share a node (backup_spread.py).
    backup_spread: str | None = None

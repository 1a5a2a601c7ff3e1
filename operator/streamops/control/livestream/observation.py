"""What a LiveStream's reconcile found (observe.py reads it; plan.py decides from it): pure data, and
what of the read objects is read the same way wherever they are looked at."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from streamops.contract.ingest import Role
from streamops.control.livestream.admission import Admission
from streamops.control.livestream.deactivation import Deactivation
from streamops.control.livestream.specs.route import PlaybackRoute, RouteKind
from streamops.control.shared.playback_policies import PolicyLookup
from streamops.control.shared.quality_sets import QualitySetLookup
from streamops.control.workers.placement import UNSEEN, Spread
from streamops.kube.manifests import Manifest
from streamops.kube.naming import INGEST_REGIONS_ANNOTATION

ROLES: tuple[Role, ...] = ("primary", "backup")
ROUTE_KINDS: tuple[RouteKind, ...] = ("Ingress", "HTTPRoute")


@dataclass(frozen=True)
class KeyCheck:
    missing: str | None = None  # a referenced Secret (or its key) that does not exist
    refused: str | None = None  # the tenancy policy's refusal of the referenced Secret
    invalid_for_srt: str | None = None  # why SRT cannot take the referenced key as its passphrase


@dataclass(frozen=True)
class StandbyObserved:
    """The stream's warm recorder (recording.standby) as it is. The name a new one takes and whether
    the default claim exists are read only while a standby is asked for and none of the stream's runs."""

    pod: Manifest | None = None  # the one the pod index names (whoever owns it now)
    free_name: str | None = None  # the first standby name no Pod has
    claim_exists: bool = True  # the default recordings claim


@dataclass(frozen=True)
class Observed:
    """What exists of a LiveStream's children, and what the checks of what it names found."""

    key: KeyCheck  # the referenced stream key (a generated one is created blind: nothing to read)
    tls_problem: tuple[str, str] | None  # (reason, message): the rtmps certificate's Secret is unusable
    tls_refused: str | None  # the tenancy policy's refusal of that Secret
    asked_route: PlaybackRoute | None  # the playback route the spec (or the operator's defaults) asks for
    admission: Admission  # the stream as its children are built from, its route, the policy's refusals
    services: dict[Role, Manifest | None] = field(default_factory=dict)  # the external ingest Services
    internal_services: dict[Role, Manifest | None] = field(default_factory=dict)
    pods: dict[Role, Manifest | None] = field(default_factory=dict)  # the serving ingest Pods
    # The role's Pod in the other slot (ingest_address.ingest_slots): a handover's successor or
    # predecessor, or nothing (None).
    others: dict[Role, Manifest | None] = field(default_factory=dict)
    # The LoadBalancer regions' Services by region: those the operator lists, and those the primary
    # Service records the stream has (a region no longer listed: its Service is deleted).
    region_services: dict[str, Manifest | None] = field(default_factory=dict)
    deactivation: Deactivation | None = None  # the record on the LiveStream, while it holds
    deactivation_record: str | None = None  # the annotation as it is (held or not)
    # A worker's report that it deactivated itself: (reason, the reporting Pod's uid), from telemetry.
    report: tuple[str, str] | None = None
    # The quality set spec.transcoding.qualitySetRef names, as the watch holds it (None: it names none).
    quality_set: QualitySetLookup | None = None
    # The PlaybackPolicy spec.playback.policyRef names, as the watch holds it (None: it names none), and the
    # namespace's rules ConfigMap, read while the stream names one or its primary ingest mounts its key.
    playback_policy: PolicyLookup | None = None
    rules: Manifest | None = None
    rules_read: bool = False
    # The playback route of each kind the stream asks for or its primary Service records it had.
    routes: dict[RouteKind, Manifest | None] = field(default_factory=dict)
    # The Recording <stream>-auto, read while auto recording is on or the index shows one.
    auto_recording: Manifest | None = None
    standby: StandbyObserved = field(default_factory=StandbyObserved)
    spread: Spread = UNSEEN  # how far the backup keeps from its primary, from the cluster's nodes
    drains: dict[Role, str] = field(default_factory=dict)  # an ingest Pod whose node is cordoned: why it moves
    budgets: dict[Role, Manifest | None] = field(default_factory=dict)  # the ingests' PodDisruptionBudgets
    releasing_budgets: dict[Role, Manifest | None] = field(default_factory=dict)  # and their releasing ones


def recorded_regions(service: Manifest | None) -> list[str]:
    """The LoadBalancer regions a primary ingest Service records its stream has Services for."""
    value = ((service or {}).get("metadata", {}).get("annotations") or {}).get(INGEST_REGIONS_ANNOTATION)
    try:
        names = json.loads(value) if value else []
    except ValueError:
        return []
    return [str(n) for n in names] if isinstance(names, list) else []

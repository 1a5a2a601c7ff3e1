"""What a LiveStream's reconcile found (observe.py reads it; plan.py decides from it): pure data, and
what of the read objects is read the same way wherever they are looked at."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from streamops.contract.ingest import Role
from streamops.control.livestream.admission import Admission
from streamops.control.livestream.deactivation import Deactivation
from streamops.control.livestream.specs.route import PlaybackRoute
from streamops.control.shared.quality_sets import QualitySetLookup
from streamops.kube.manifests import Manifest
from streamops.kube.naming import INGEST_REGIONS_ANNOTATION

ROLES: tuple[Role, ...] = ("primary", "backup")


@dataclass(frozen=True)
class KeyCheck:
    missing: str | None = None  # a referenced Secret (or its key) that does not exist
    refused: str | None = None  # the tenancy policy's refusal of the referenced Secret
    invalid_for_srt: str | None = None  # why SRT cannot take the referenced key as its passphrase


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
    pods: dict[Role, Manifest | None] = field(default_factory=dict)  # the ingest Pods
    # The LoadBalancer regions' Services by region: those the operator lists, and those the primary
    # Service records the stream has (a region no longer listed: its Service is deleted).
    region_services: dict[str, Manifest | None] = field(default_factory=dict)
    deactivation: Deactivation | None = None  # the record on the LiveStream, while it holds
    deactivation_record: str | None = None  # the annotation as it is (held or not)
    # A worker's report that it deactivated itself: (reason, the reporting Pod's uid), from telemetry.
    report: tuple[str, str] | None = None
    # The quality set spec.transcoding.qualitySetRef names, as the watch holds it (None: it names none).
    quality_set: QualitySetLookup | None = None


def recorded_regions(service: Manifest | None) -> list[str]:
    """The LoadBalancer regions a primary ingest Service records its stream has Services for."""
    value = ((service or {}).get("metadata", {}).get("annotations") or {}).get(INGEST_REGIONS_ANNOTATION)
    try:
        names = json.loads(value) if value else []
    except ValueError:
        return []
    return [str(n) for n in names] if isinstance(names, list) else []

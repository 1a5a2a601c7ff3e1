"""What a Recording's reconcile found (observe.py reads it; plan.py decides from it): pure data."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.control.storage.storing_observation import StoringObserved
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class Observed(StoringObserved):
    """What exists of a Recording's children and what it names (its recorder is the worker: an
    adopted standby under its own name). A stopped Recording reads only its recorder; one whose
    stream is missing nothing more (the storage is resolved from the stream)."""

    claim_access_modes: tuple[str, ...] | None = None  # of the claim it names (None: the default, or a bucket)
    origin_expiry: OriginExpiryObserved | None = None  # read only when the status loop asks
    other: Manifest | None = None  # the Pod in the recorder's other slot: a successor, or one left over
    slots: tuple[str, str] = ("", "")  # the recorder's two Pod names (specs/names.recorder_slots)
    drain: str | None = None  # the recorder's node is cordoned: why it moves (workers/drain.py)
    budget: Manifest | None = None  # its PodDisruptionBudget (workers/worker_budget.py)
    room: bool = True  # a node other than the recorder's takes Pods (workers/drain.room_elsewhere)


@dataclass(frozen=True)
class OriginExpiryObserved:
    """The origin expiry Pod (None: there is none) and the access modes of the claim in the status,
    which a new one mounts (None: the default claim's, or not asked)."""

    pod: Manifest | None = None
    claim_access_modes: tuple[str, ...] | None = None

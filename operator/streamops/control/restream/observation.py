"""What a Restream's reconcile found (observe.py reads it; plan.py decides from it): pure data, the
Secrets' values as SecretStr (never in a repr)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from streamops.api import LiveStream, Restream
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class Target:
    """An active Restream of the stream and what its target needs: the key's and the CA's values
    (never in a repr), or why it cannot be pushed (a Secret missing, or refused by the policy)."""

    restream: Restream
    key: SecretStr | None = None
    ca: SecretStr | None = None
    missing: str | None = None
    refused: str | None = None
    secret_versions: tuple[str, ...] = ()  # the Secrets' resourceVersions (a rotation is a new version)


@dataclass(frozen=True)
class Observed:
    """What exists of a Restream's stream and its pusher. An inactive Restream still reads the
    stream's others: their targets stay. One whose stream is missing reads nothing more."""

    pusher: Manifest | None  # the stream's shared pusher Pod (of two in a handover: the predecessor)
    stream: LiveStream | None = None
    key_missing: str | None = None  # this Restream's target-key Secret (or its key, or its CA) does not exist
    key_refused: str | None = None  # ... is not labelled for use by specs (tenancy.py): why
    host_network: bool = False  # workers run on the host network: the ingest ports were read
    ingest_ports: IngestPortMap | None = None  # the stream's primary ingest's (None: not allocated yet)
    targets: tuple[Target, ...] = ()  # every active Restream of the stream, this one included
    legacy_pusher: Manifest | None = None  # this Restream's own pusher Pod, made by an older operator
    other: Manifest | None = None  # the Pod in the pusher's other slot: a successor, or one left over
    slots: tuple[str, str] = ("", "")  # the pusher's two Pod names (specs/names.pusher_slots)
    drain: str | None = None  # the pusher's node is cordoned: why it moves (workers/drain.py)
    budget: Manifest | None = None  # its PodDisruptionBudget (restart policy handover: workers/worker_budget.py)
    room: bool = True  # a node other than the pusher's takes Pods (workers/drain.room_elsewhere)

"""What the plans of the kinds whose worker stores videos (Recording, Clip) decide alike, from what
storing_observe.py read: pure, no API call (docs/design/reconcile-plan.md). Each kind's plan.py asks
these in its own order (a Recording checks its quota before its storage, a Clip its refusals)."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.api.recording import RecordingStorage
from streamops.control.storage.storing_observation import StoringObserved
from streamops.control.storage.video_storage import StorageRefusal


@dataclass(frozen=True)
class Followed:
    """The stream the worker is built for and where its videos go (both read)."""

    stream: LiveStream
    storage: RecordingStorage


def followed(observed: StoringObserved) -> Followed | None:
    """None: the stream is missing (or the object is done: nothing more was read); the worker waits."""
    if observed.stream is None or observed.storage is None:
        return None
    return Followed(observed.stream, observed.storage)


def storage_refusal(observed: StoringObserved) -> StorageRefusal | None:
    """The refusal that removes the worker: a Secret of its storage missing keeps out a worker not
    made yet (one that runs has its Secrets already), the tenancy policy any worker (made before the
    policy, or its Secret's label taken away: it finalises and exits, and no new one starts until the
    label is there)."""
    refused = observed.storage_refused
    if refused is not None and (observed.worker is None or refused.by_policy):
        return refused
    return None


def waiting_for_ports(observed: StoringObserved) -> bool:
    """Workers run on the host network and the stream has not got its ingest ports yet: come back
    when it has (the outcome names no stream)."""
    return observed.host_network and observed.ingest_ports is None


def claim_wanted(observed: StoringObserved) -> bool:
    """The default claim is made (when missing) before a first worker."""
    return observed.worker is None

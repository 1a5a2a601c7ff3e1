"""What a Restream's reconcile tells its status loop (reconcile.py makes it, decide.py reads it):
plain data, so the loop's pure decide can read it without reaching the reconcile's API client."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.contract.pusher import PusherTargets
from streamops.control.workers.restarts import KEEP, PodChange


@dataclass(frozen=True)
class RestreamOutcome:
    generation: int | None
    invalid_spec: str | None = None
    waiting_for_stream: bool = False  # no Pod yet: the stream (or its ingest ports) is missing
    key_secret_missing: str | None = None  # the referenced target-key Secret (or its key) does not exist
    key_secret_refused: str | None = None  # ... is not labelled for use by specs (tenancy.py): why
    stream_uid: str | None = None  # the stream the Pod was built for
    # The resourceVersion of the body the owner patch was sent with: a reconcile that is handed the
    # same body again (the watch has not shown the patch yet) does not send it again.
    owner_patched_at: str | None = None
    pod_change: PodChange = KEEP  # the pusher Pod replaced, or kept until it is idle (restarts.py)
    # The stream's whole set of targets, keys included (SecretStr: never in a repr), for PUT /targets.
    targets: PusherTargets | None = None

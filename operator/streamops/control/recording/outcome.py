"""What a Recording's reconcile tells its status loop (reconcile.py returns it, decide.py reads it):
data only, so that the loop's pure decide reaches nothing that writes."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api.recording import RecordingStorage
from streamops.contract.recorder import RecorderConfig
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.restarts import KEEP, PodChange


@dataclass(frozen=True)
class ExpiryPodEnded:
    """The origin expiry Pod has ended (it goes): whether it deleted its originals, which, and why
    not (its status's words)."""

    name: str
    uid: str
    succeeded: bool
    origins: tuple[str, ...]  # the originals it was made to delete (its annotation)
    detail: str = ""


@dataclass(frozen=True)
class RecordingOutcome:
    generation: int | None
    invalid_spec: str | None = None
    waiting_for_stream: bool = False  # no Pod yet: the stream (or its ingest ports) is missing
    stream_uid: str | None = None  # the stream the Pod was built for
    start_config: RecorderConfig | None = None  # an adopted standby recorder is sent this by POST /start
    handover_config: RecorderConfig | None = None  # a handover's successor is sent this (handover.py)
    storage: RecordingStorage | None = None  # where the videos go, resolved (None: not looked at this time)
    storage_refused: StorageRefusal | None = None  # no Pod: a Secret of the storage is missing or refused
    no_space: bool = False  # no Pod: the quota was full before the recorder started
    pod_change: PodChange = KEEP  # the recorder Pod replaced, or kept until it is idle (restarts.py)
    origin_expiry_ended: ExpiryPodEnded | None = None  # the origin expiry Pod that ended, removed now
    cannot_move: str | None = None  # its node is cordoned and it records: why no handover moves it (a drain evicts it)

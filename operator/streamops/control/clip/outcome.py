"""What a Clip's reconcile tells its status loop (reconcile.py returns it; decide.py and status.py
read it): data only, so that the loop's pure decide reaches nothing that writes."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api.recording import RecordingStorage
from streamops.control.storage.video_storage import StorageRefusal


@dataclass(frozen=True)
class Refused:
    """The Clip cannot be made: why (a reason of reasons.REFUSALS) and what to do about it."""

    reason: str
    message: str


@dataclass(frozen=True)
class ClipOutcome:
    generation: int | None
    invalid_spec: str | None = None
    waiting_for_stream: bool = False  # no Pod: the stream (or its ingest ports) is missing
    stream_uid: str | None = None
    refused: Refused | None = None  # no Pod: the Clip is refused before any cut
    storage: RecordingStorage | None = None
    storage_refused: StorageRefusal | None = None  # no Pod: a Secret of the storage is missing (or refused)

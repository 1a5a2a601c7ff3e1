"""The policies the decides of Recording and Clip share (pure, runtime/decisions.py): following their
stream (a reconcile when it appears or is replaced), the stream's client fields on their Events, a
missing storage Secret looked for again soon, and their own action that carries those fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from streamops.control.runtime.decisions import ResyncWithin
from streamops.control.runtime.indexes import StreamFacts

SECRET_RETRY_SECONDS = 5.0  # a missing storage Secret is looked for again this often
ClientFields = tuple[tuple[str, str], ...]


class StoringOutcome(Protocol):
    """What these policies read of a reconcile's outcome (RecordingOutcome, ClipOutcome)."""

    @property
    def waiting_for_stream(self) -> bool: ...

    @property
    def stream_uid(self) -> str | None: ...

    @property
    def storage_refused(self) -> object | None: ...


@dataclass(frozen=True)
class CarryClientFields:
    """An action: the object's Events carry these client fields of its stream from now on (kept once
    the stream is gone: the index forgets it, the Events still name it)."""

    fields: ClientFields


def stream_moved(stream: StreamFacts | None, outcome: StoringOutcome) -> bool:
    """The stream the reconcile waited for appeared, or it was replaced by a new object (another uid):
    reconcile again at once."""
    if stream is None:
        return False
    return outcome.waiting_for_stream or bool(outcome.stream_uid and stream.uid != outcome.stream_uid)


def client_fields(
    stream: StreamFacts | None, carried: ClientFields | None
) -> tuple[list[CarryClientFields], ClientFields | None]:
    """The stream's client fields when they are new to the loop (`carried`: what it carries now)."""
    if stream is None or stream.client_annotations == carried:
        return [], carried
    return [CarryClientFields(stream.client_annotations)], stream.client_annotations


def secret_retry(outcome: StoringOutcome) -> list[ResyncWithin]:
    """A missing storage Secret is looked for again every SECRET_RETRY_SECONDS (Secrets are not
    watched: it may be created any time)."""
    return [ResyncWithin(SECRET_RETRY_SECONDS)] if outcome.storage_refused else []

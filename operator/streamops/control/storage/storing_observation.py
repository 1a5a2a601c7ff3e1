"""What the reconcile of a kind whose worker stores videos (Recording, Clip) found of its worker and
its stream (storing_observe.py reads it; the kinds' plans decide from it): pure data."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from streamops.api import LiveStream
from streamops.api.recording import RecordingStorage
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class StoringObserved:
    """What exists of the worker and what the object names. A done object (a stopped Recording, a
    Clip whose final status is written) reads only its worker; one whose stream is missing nothing
    more (the storage is resolved from the stream)."""

    worker: Manifest | None  # its worker Pod (a Recording's: an adopted standby under its own name)
    stream: LiveStream | None = None
    storage: RecordingStorage | None = None  # where the videos go, resolved from its spec and its stream's
    storage_refused: StorageRefusal | None = None  # a Secret of the bucket is missing or refused
    host_network: bool = False  # workers run on the host network: the ingest ports were read
    ingest_ports: IngestPortMap | None = None  # the stream's primary ingest's (None: not allocated yet)


def fields_of(observed: StoringObserved) -> dict[str, Any]:
    """Its fields by name, to extend it into a kind's own observation (not deep-copied as asdict does)."""
    return {f.name: getattr(observed, f.name) for f in fields(StoringObserved)}

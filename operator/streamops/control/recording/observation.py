"""What a Recording's reconcile found (observe.py reads it; plan.py decides from it): pure data."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.api.recording import RecordingStorage
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class Observed:
    """What exists of a Recording's children and what it names. A stopped Recording reads only its
    recorder; one whose stream is missing nothing more (the storage is resolved from the stream)."""

    recorder: Manifest | None  # its recorder Pod (an adopted standby under its own name)
    stream: LiveStream | None = None
    storage: RecordingStorage | None = None  # where the videos go, resolved from its spec and its stream's
    storage_refused: StorageRefusal | None = None  # a Secret of the bucket is missing or refused
    host_network: bool = False  # workers run on the host network: the ingest ports were read
    ingest_ports: IngestPortMap | None = None  # the stream's primary ingest's (None: not allocated yet)
    claim_access_modes: tuple[str, ...] | None = None  # of the claim it names (None: the default, or a bucket)

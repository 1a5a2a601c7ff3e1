"""What a Clip's reconcile found (observe.py reads it; plan.py decides from it): pure data."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.api.recording import RecordingStorage
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class Observed:
    """What exists of a Clip's child and what it names. A Clip whose final status is written reads
    only its clipper; one whose stream is missing nothing more (the storage is resolved from it)."""

    clipper: Manifest | None  # its clipper Pod
    stream: LiveStream | None = None
    storage: RecordingStorage | None = None  # where the clip goes, resolved from its spec and its stream's
    storage_refused: StorageRefusal | None = None  # a Secret of the bucket is missing or refused
    host_network: bool = False  # workers run on the host network: the ingest ports were read
    ingest_ports: IngestPortMap | None = None  # the stream's primary ingest's (None: not allocated yet)

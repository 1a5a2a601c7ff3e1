"""What the reconcile of a kind whose worker stores videos (Recording, Clip) reads of its worker and
its stream (docs/design/reconcile-plan.md): the worker Pod, and, until it is done, the stream it
follows, the storage resolved from the stream's and its own, the refusal of that storage's Secrets,
and the stream's ingest ports. Reads only; each kind's plan.py decides from it (storing_plan.py)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from streamops.api import LiveStream
from streamops.api.recording import RecordingStorage
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.storage.video_storage import StorageRefusal, read_followed_stream
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.kube.client import KubeApi
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


def observe_storing(
    api: KubeApi,
    namespace: str,
    worker: str,
    stream_name: str,
    own_storage: RecordingStorage | None,
    settings: OperatorSettings,
    host_network: bool,
    done: bool,
) -> StoringObserved:
    """The worker Pod `worker`, then (unless `done`) the stream `stream_name` and its storage;
    `host_network`: an allocator is given (the stream's ingest ports are read)."""
    current = api.get("Pod", namespace, worker)
    followed = None if done else read_followed_stream(api, namespace, stream_name, own_storage, settings, host_network)
    if followed is None:
        return StoringObserved(current)
    return StoringObserved(
        worker=current,
        stream=followed.stream,
        storage=followed.storage,
        storage_refused=followed.storage_refused,
        host_network=host_network,
        ingest_ports=followed.ingest_ports,
    )


def fields_of(observed: StoringObserved) -> dict[str, Any]:
    """Its fields by name, to extend it into a kind's own observation (not deep-copied as asdict does)."""
    return {f.name: getattr(observed, f.name) for f in fields(StoringObserved)}

"""What the reconcile of a kind whose worker stores videos (Recording, Clip) reads of its worker and
its stream (docs/design/reconcile-plan.md): the worker Pod, and, until it is done, the stream it
follows, the storage resolved from the stream's and its own, the refusal of that storage's Secrets,
and the stream's ingest ports. Reads only (typed with the reading half of the client); each kind's
plan.py decides from what it found (storing_observation.py) with storing_plan.py."""

from __future__ import annotations

from streamops.api.recording import RecordingStorage
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.storage_reads import read_followed_stream
from streamops.control.storage.storing_observation import StoringObserved
from streamops.kube.reads import KubeReads


def observe_storing(
    api: KubeReads,
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

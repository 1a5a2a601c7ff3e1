"""kopf wiring. Handlers are thin: they call a reconciler (sync, in kopf's thread pool) or start an
object's status loop (async daemon, see status_loop.py).

Triggers are level-based: create/update/resume of an object, the deletion of one of its Pods, and
a periodic resync inside the status loop. Every trigger runs the same idempotent reconcile, so a
missed or duplicated event, or an operator restart, changes nothing observable.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from streamops.api import GROUP, LIVESTREAM, RECORDING, RESTREAM, VERSION
from streamops.api.kinds import Kind
from streamops.control.indexes import recording_entry, stream_entry, worker_pod_entry
from streamops.control.kube import KubeApi
from streamops.control.naming import COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from streamops.control.ports import PortAllocator, ports_of
from streamops.control.settings import OperatorSettings
from streamops.control.state import OperatorState
from streamops.control.status_loop import SELECTOR, livestream_loop, reconcile, recording_loop, restream_loop
from streamops.control.telemetry import http_client

FINALIZER = f"{GROUP}/finalizer"
SETTINGS = OperatorSettings.from_env()
WORKER_PODS = {"labels": {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: kopf.PRESENT}}
KINDS_BY_NAME = {k.kind: k for k in (LIVESTREAM, RECORDING, RESTREAM)}


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our own annotation prefix and finalizer: no kopf.zalando.org leftovers on user objects,
    # and nothing of kopf's in status (status is written only by the status loops).
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # Watches end server-side before the client gives up, so a silent connection never stalls us.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    # Events on user objects are ours (transitions); kopf's own only when something failed.
    settings.posting.level = logging.WARNING
    settings.peering.standalone = True  # one replica (Deployment strategy Recreate)
    settings.execution.max_workers = 8
    state = OperatorState(api=KubeApi.from_environment(), settings=SETTINGS, client=http_client())
    if SETTINGS.host_network:
        state.allocator = PortAllocator(SETTINGS.ports)
        state.seed_ports(SELECTOR)
    memo.state = state


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("state") is not None and memo.state.client is not None:
        await memo.state.client.close()


# --- indexes (kopf fills them from its watches before any handler runs) -------------------------


@kopf.index("v1", "pods", **WORKER_PODS)
def worker_pods(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return worker_pod_entry(body)


@kopf.index(GROUP, VERSION, LIVESTREAM.plural)
def streams(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return stream_entry(body)


@kopf.index(GROUP, VERSION, RECORDING.plural)
def recordings(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return recording_entry(body)


# --- reconcile triggers ----------------------------------------------------------------------


def _auto_recording_exists(recordings: kopf.Index[Any, Any], body: kopf.Body) -> bool:
    key = (body.metadata.namespace, body.metadata.name)
    return key in recordings and any(f.auto for f in recordings[key])


@kopf.on.resume(GROUP, VERSION, LIVESTREAM.plural, id="livestream-resume")
@kopf.on.create(GROUP, VERSION, LIVESTREAM.plural, id="livestream-create")
@kopf.on.update(GROUP, VERSION, LIVESTREAM.plural, field="spec", id="livestream-update")
def livestream_changed(body: kopf.Body, memo: kopf.Memo, recordings: kopf.Index[Any, Any], **_: Any) -> None:
    reconcile(memo.state, LIVESTREAM, body, auto_recording_exists=_auto_recording_exists(recordings, body))


@kopf.on.resume(GROUP, VERSION, RECORDING.plural, id="recording-resume")
@kopf.on.create(GROUP, VERSION, RECORDING.plural, id="recording-create")
@kopf.on.update(GROUP, VERSION, RECORDING.plural, field="spec", id="recording-update")
def recording_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    reconcile(memo.state, RECORDING, body)


@kopf.on.resume(GROUP, VERSION, RESTREAM.plural, id="restream-resume")
@kopf.on.create(GROUP, VERSION, RESTREAM.plural, id="restream-create")
@kopf.on.update(GROUP, VERSION, RESTREAM.plural, field="spec", id="restream-update")
def restream_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    reconcile(memo.state, RESTREAM, body)


@kopf.on.event("v1", "pods", **WORKER_PODS)
def worker_pod_event(type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A worker Pod went away (deleted, evicted, rolled): its owner puts it back right away.
    Other Pod changes only update the pod index, which the status loops read."""
    if type != "DELETED":
        return
    state: OperatorState = memo.state
    component = (body.metadata.labels or {}).get(COMPONENT_LABEL, "")
    if state.allocator is not None and not component.startswith("ingest"):
        # (an ingest's ports belong to its Service, which outlives the Pod)
        state.allocator.release(ports_of(body).values())
    for ref in body.metadata.get("ownerReferences") or []:
        kind: Kind | None = KINDS_BY_NAME.get(ref.get("kind", ""))
        if kind is None or not ref.get("controller") or not ref.get("apiVersion", "").startswith(GROUP + "/"):
            continue
        owner = state.api.get_custom(kind, body.metadata.namespace or "", ref["name"])
        if owner is not None and owner["metadata"].get("uid") == ref.get("uid"):
            extra = {"auto_recording_exists": True} if kind is LIVESTREAM else {}
            reconcile(state, kind, owner, **extra)


@kopf.on.delete(GROUP, VERSION, LIVESTREAM.plural, id="livestream-forget", optional=True)
@kopf.on.delete(GROUP, VERSION, RECORDING.plural, id="recording-forget", optional=True)
@kopf.on.delete(GROUP, VERSION, RESTREAM.plural, id="restream-forget", optional=True)
def forget(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    state: OperatorState = memo.state
    kind = KINDS_BY_NAME[body.get("kind", "")]
    state.forget((kind.kind, body.metadata.namespace or "", body.metadata.name or ""))


# --- status loops (one per object) ----------------------------------------------------------------


@kopf.daemon(GROUP, VERSION, LIVESTREAM.plural, id="livestream-status", cancellation_timeout=5, backoff=1)
async def livestream_status_loop(
    body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, worker_pods: Any, recordings: Any, **_: Any
) -> None:
    await livestream_loop(memo.state, body, stopped, worker_pods, recordings)


@kopf.daemon(GROUP, VERSION, RECORDING.plural, id="recording-status", cancellation_timeout=5, backoff=1)
async def recording_status_loop(
    body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, worker_pods: Any, streams: Any, **_: Any
) -> None:
    await recording_loop(memo.state, body, stopped, worker_pods, streams)


@kopf.daemon(GROUP, VERSION, RESTREAM.plural, id="restream-status", cancellation_timeout=5, backoff=1)
async def restream_status_loop(
    body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, worker_pods: Any, streams: Any, **_: Any
) -> None:
    await restream_loop(memo.state, body, stopped, worker_pods, streams)

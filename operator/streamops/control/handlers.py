"""kopf wiring. Handlers are thin: parse, call the reconciler, post Events for transitions.

Triggers are level-based: create/update/resume of a LiveStream, any event of one of its Pods, and
a timer as a safety net. Every trigger runs the same idempotent reconcile, so a missed or
duplicated event, or an operator restart, changes nothing observable.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import kopf

from streamops.api import GROUP, LIVESTREAM, VERSION
from streamops.control.kube import KubeApi
from streamops.control.livestream import reconcile_livestream
from streamops.control.naming import COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from streamops.control.settings import OperatorSettings

FINALIZER = f"{GROUP}/finalizer"
SETTINGS = OperatorSettings.from_env()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our own annotation prefix and finalizer: no kopf.zalando.org leftovers on user objects,
    # and nothing of kopf's in status (status is written only by the reconcilers).
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
    memo.api = KubeApi.from_environment()
    memo.locks = {}
    memo.locks_guard = threading.Lock()


def _reconcile(body: kopf.Body, memo: kopf.Memo) -> None:
    if body.metadata.get("deletionTimestamp"):
        return  # going away: the garbage collector removes the children, nothing to recreate
    # Pod events and the stream's own handlers run in different kopf workers: serialise per stream
    # so two triggers never race to create children or post the same Event twice.
    key = (body.metadata.namespace, body.metadata.name)
    with memo.locks_guard:
        lock = memo.locks.setdefault(key, threading.Lock())
    with lock:
        now = datetime.now(UTC).replace(microsecond=0)
        for t in reconcile_livestream(memo.api, SETTINGS, body, now):
            kopf.event(body, type=t.type, reason=t.reason, message=t.message)


@kopf.on.resume(GROUP, VERSION, LIVESTREAM.plural, id="livestream-resume")
@kopf.on.create(GROUP, VERSION, LIVESTREAM.plural, id="livestream-create")
@kopf.on.update(GROUP, VERSION, LIVESTREAM.plural, field="spec", id="livestream-update")
def livestream_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    _reconcile(body, memo)


@kopf.timer(GROUP, VERSION, LIVESTREAM.plural, interval=SETTINGS.resync_seconds, id="livestream-resync")
def livestream_resync(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    _reconcile(body, memo)


@kopf.on.event("v1", "pods", labels={MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: kopf.PRESENT})
def worker_pod_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A child Pod changed (scheduled, ready, deleted...): reconcile its owner right away."""
    for ref in body.metadata.get("ownerReferences") or []:
        if ref.get("kind") == LIVESTREAM.kind and ref.get("apiVersion", "").startswith(GROUP + "/"):
            owner = memo.api.get_custom(LIVESTREAM, body.metadata.namespace, ref["name"])
            if owner is not None and owner["metadata"].get("uid") == ref.get("uid"):
                _reconcile(kopf.Body(owner), memo)

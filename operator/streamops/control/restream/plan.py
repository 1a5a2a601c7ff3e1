"""What a Restream's reconcile wants, decided from the Restream as stored, the settings and what
observe.py read: pure, no API call (docs/design/reconcile-plan.md). plan_pusher() decides whether
the pusher goes or runs, the owner patch and what the outcome says; wanted_pod() builds the pusher
once apply.py has its host port (the allocator is a side effect)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from streamops.api import LiveStream, Restream
from streamops.control.restream.observe import Observed
from streamops.control.restream.specs.owner_patch import restream_owner_patch
from streamops.control.restream.specs.pod import pusher_pod
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.workers.restarts import IMMEDIATE, RESTARTS_ANNOTATION
from streamops.kube.manifests import Body, Manifest


@dataclass(frozen=True)
class Plan:
    """What the reconcile wants, before any write; the last fields are what the outcome says."""

    restream: Restream
    remove: bool = False  # the pusher goes (inactive, or its target key is refused)
    pusher: bool = False  # the pusher runs
    owner_patch: Manifest | None = None  # send this patch of the Restream's ownerReferences
    busy: bool = False  # the pusher pushes (status.live): a change that can wait waits
    immediate: bool = False  # the owner asks for a pending restart now (restarts.py)
    stream: LiveStream | None = None  # the stream the pusher is built for
    waiting_for_stream: bool = False  # the stream (or its ingest ports) is missing
    key_missing: str | None = None
    key_refused: str | None = None
    owner_patched_at: str | None = None  # the body's resourceVersion once the patch is sent (or pending)


def plan_pusher(restream: Restream, raw: Body, observed: Observed, owner_patched_at: str | None = None) -> Plan:
    """Pure. `raw`: the Restream as handed over (its ownerReferences and resourceVersion);
    `owner_patched_at`: the previous outcome's (reconcile.RestreamOutcome)."""
    base = Plan(
        restream,
        busy=bool(restream.status and restream.status.live),
        immediate=restream.metadata.annotations.get(RESTARTS_ANNOTATION) == IMMEDIATE,
    )
    stream = observed.stream
    if not restream.spec.active:
        return replace(base, remove=True)
    if stream is None:
        return replace(base, waiting_for_stream=True)
    if observed.key_refused is not None:
        # The target would receive the Secret's value: a running pusher (made before the policy) goes.
        return replace(base, remove=True, key_refused=observed.key_refused)
    if observed.key_missing is not None:
        # A Pod now would hang in ContainerCreating: say so instead, and create it once the key exists.
        return replace(base, key_missing=observed.key_missing)
    patch, patched_at = _owner_patch(raw, stream, owner_patched_at)
    # Without the stream's ports the pusher waits, but the owner patch is sent all the same.
    waiting = observed.host_network and observed.ingest_ports is None
    return replace(
        base,
        pusher=not waiting,
        owner_patch=patch,
        stream=None if waiting else stream,
        waiting_for_stream=waiting,
        owner_patched_at=patched_at,
    )


def _owner_patch(raw: Body, stream: LiveStream, patched_at: str | None) -> tuple[Manifest | None, str | None]:
    """The stream as an owner (its deletion takes the Restream along): the patch to send (None:
    none, or it was sent with this very body and the watch has not shown it yet), and the
    resourceVersion the outcome remembers."""
    meta = raw.get("metadata", {})
    patch = restream_owner_patch(meta, stream)
    version = meta.get("resourceVersion")
    if patch is None or patched_at != version:
        patched_at = None
    if patch is not None and patched_at is None:
        return patch, version
    return None, patched_at


# --- the second phase: what depends on a side effect -------------------------------------------


def wanted_pod(
    plan: Plan, settings: OperatorSettings, observed: Observed, host_ports: dict[str, int] | None
) -> Manifest:
    """The pusher Pod; `host_ports`: its own, as kept or allocated."""
    assert plan.stream is not None, "a pusher is planned for a stream"
    return pusher_pod(plan.restream, plan.stream, settings, observed.ingest_ports, host_ports)

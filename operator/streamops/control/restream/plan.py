"""What a Restream's reconcile wants, decided without any write (docs/design/reconcile-plan.md):
the stream's shared pusher (docs/design/shared-pusher.md) wanted or removed, its owners and its set
of targets planned from every active Restream of the stream, whether this Restream's stream becomes
its owner, and what its status says (waiting for the stream, a key missing or refused). Pure: no
API, no allocator, no clock. Every Restream of a stream plans the same Pod and the same set, so
whichever reconciles first does the writing and the others find nothing to do.

The second phase (`wanted_targets`, `wanted_pod`) needs the operator's settings and the pusher's
host ports, which apply.py has."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from streamops.api import LiveStream, Restream
from streamops.contract.pusher import PusherTargets
from streamops.control.restream.observation import Observed, Target
from streamops.control.restream.specs.owner_patch import restream_owner_patch
from streamops.control.restream.specs.pod import shared_pusher_pod
from streamops.control.restream.specs.worker_config import pusher_target
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.restarts import RestartPolicy, restart_policy
from streamops.control.workers.worker_budget import held_pods, worker_budget
from streamops.kube.manifests import Body, Manifest
from streamops.kube.naming import COMPONENT_LABEL, IMMEDIATE, INSTANCE_LABEL, RESTARTS_ANNOTATION


@dataclass(frozen=True)
class Plan:
    """What the reconcile wants, before any write; the last fields are what the outcome says."""

    restream: Restream
    remove: bool = False  # the stream's pusher goes: no Restream of the stream has a target
    pusher: bool = False  # the stream's pusher runs
    owner_patch: Manifest | None = None  # send this patch of the Restream's ownerReferences
    busy: bool = False  # a target of the pusher is live: a change of the Pod that can wait waits
    immediate: bool = False  # a Restream of the stream asks for a pending restart now (restarts.py)
    handover: bool = False  # a busy pusher that must change is handed over (the restart policy handover)
    # ... and another node takes Pods: a PodDisruptionBudget holds it, and its node cordoned is a
    # reason to hand it over there (workers/drain.py).
    movable: bool = False
    stream: LiveStream | None = None  # the stream the pusher is built for
    waiting_for_stream: bool = False  # the stream (or its ingest ports) is missing
    key_missing: str | None = None
    key_refused: str | None = None
    owner_patched_at: str | None = None  # the body's resourceVersion once the patch is sent (or pending)
    targets: tuple[Target, ...] = ()  # the Restreams pushed to (the Pod's owners), in name order
    remove_legacy: bool = False  # this Restream's own pusher Pod of an older operator goes


def plan_pusher(
    restream: Restream,
    raw: Body,
    observed: Observed,
    owner_patched_at: str | None = None,
    policy: RestartPolicy = "idle",
) -> Plan:
    """Pure. `raw`: the Restream as handed over (its ownerReferences and resourceVersion);
    `owner_patched_at`: the previous outcome's (reconcile.RestreamOutcome); `policy`: the operator's
    restart policy (the Restream's annotation overrides it). On the host network the successor has
    a host port of its own (apply.py): it runs beside its predecessor, on any node."""
    targets = tuple(t for t in observed.targets if t.missing is None and t.refused is None)
    owners = [t.restream for t in targets]
    handover = restart_policy(restream.metadata.annotations.get(RESTARTS_ANNOTATION), policy) == "handover"
    base = Plan(
        restream,
        busy=any(r.status is not None and r.status.live for r in owners),
        immediate=any(r.metadata.annotations.get(RESTARTS_ANNOTATION) == IMMEDIATE for r in [restream, *owners]),
        remove_legacy=observed.legacy_pusher is not None,
        handover=handover,
        movable=handover and observed.room,
    )
    stream = observed.stream
    if stream is None:
        # Nothing to push from; the stream's deletion takes its Restreams, and the Pod with them.
        return replace(base, waiting_for_stream=restream.spec.active)
    # Without the stream's ports the pusher waits, but the owner patch is sent all the same.
    waiting = observed.host_network and observed.ingest_ports is None
    pod = replace(
        base,
        remove=not targets,
        pusher=bool(targets) and not waiting,
        stream=None if waiting or not targets else stream,
        targets=targets,
    )
    if not restream.spec.active:
        return pod
    if observed.key_refused is not None:
        # The target would receive the Secret's value: it is not sent (a running one stops).
        return replace(pod, key_refused=observed.key_refused)
    if observed.key_missing is not None:
        # Say so instead, and send the target once the key exists.
        return replace(pod, key_missing=observed.key_missing)
    patch, patched_at = _owner_patch(raw, stream, owner_patched_at)
    return replace(pod, owner_patch=patch, waiting_for_stream=waiting, owner_patched_at=patched_at)


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


# --- the second phase: what depends on the settings or a side effect ----------------------------


def wanted_targets(plan: Plan, settings: OperatorSettings, observed: Observed) -> PusherTargets | None:
    """The set the pusher is to run (None: no pusher planned)."""
    if plan.stream is None:
        return None
    stream = plan.stream
    return PusherTargets(
        targets=[
            pusher_target(
                t.restream,
                stream,
                settings,
                observed.ingest_ports,
                t.key.get_secret_value() if t.key is not None else None,
                t.ca.get_secret_value() if t.ca is not None else None,
                t.secret_versions,
            )
            for t in plan.targets
        ]
    )


def wanted_pod(
    plan: Plan, settings: OperatorSettings, observed: Observed, host_ports: dict[str, int] | None
) -> Manifest:
    """The stream's pusher Pod; `host_ports`: its own, as kept or allocated."""
    assert plan.stream is not None, "a pusher is planned for a stream"
    return shared_pusher_pod(plan.stream, [t.restream for t in plan.targets], settings, host_ports)


def wanted_budget(
    plan: Plan, pod: Manifest, pods: Sequence[Manifest | None], slots: tuple[str, str]
) -> Manifest | None:
    """The pusher's PodDisruptionBudget under the restart policy handover, while another node takes
    Pods (None: an owned one goes, and a drain evicts the pusher as any Pod; with nowhere to go a
    budget would hold the drain for ever): named as its first slot, owned as `pod` (the desired
    pusher: by every Restream it pushes for), holding `pods` (its two slots after the writes)."""
    if not plan.movable:
        return None
    return worker_budget(pod, slots[0], (INSTANCE_LABEL, COMPONENT_LABEL), held_pods(pods))

"""Reconcile one Restream: its owner reference to the stream and the stream's shared pusher Pod, and
the set of targets the status loop sends it (docs/design/shared-pusher.md). Thin: the object parsed,
what exists read (observe.py), what is wanted decided (plan.py, pure), the plan carried out
(apply.py); docs/design/reconcile-plan.md. Status is written by the status loop from what the
pusher reports of this Restream's target."""

from __future__ import annotations

from streamops.api import Restream
from streamops.control.restream.apply import apply_plan
from streamops.control.restream.observe import observe
from streamops.control.restream.outcome import RestreamOutcome
from streamops.control.restream.plan import plan_pusher, wanted_targets
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse
from streamops.control.workers.ports import PortAllocator
from streamops.kube.client import KubeApi, NamespaceTerminating
from streamops.kube.manifests import Body


def reconcile_restream(
    api: KubeApi,
    settings: OperatorSettings,
    body: Body,
    allocator: PortAllocator | None = None,
    owner_patched_at: str | None = None,
) -> RestreamOutcome:
    """Idempotent. The stream's pusher Pod exists while a Restream of the stream has a target (it
    waits for the feed by itself).
    `owner_patched_at` is the previous outcome's (see RestreamOutcome)."""
    parsed = parse(Restream, body)
    generation, restream = parsed.generation, parsed.obj
    if restream is None:
        return RestreamOutcome(generation, invalid_spec=parsed.problem)
    try:
        observed = observe(api, restream, settings, allocator is not None)
        plan = plan_pusher(restream, parsed.raw, observed, owner_patched_at, settings.worker.restart_policy)
        change = apply_plan(api, settings, plan, observed, allocator)
        targets = wanted_targets(plan, settings, observed)
    except NamespaceTerminating:
        return RestreamOutcome(generation)
    return RestreamOutcome(
        generation,
        waiting_for_stream=plan.waiting_for_stream,
        key_secret_missing=plan.key_missing,
        key_secret_refused=plan.key_refused,
        stream_uid=plan.stream.metadata.uid if plan.stream is not None else None,
        owner_patched_at=plan.owner_patched_at,
        pod_change=change,
        targets=targets,
    )

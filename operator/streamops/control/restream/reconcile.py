"""Reconcile one Restream: its owner reference to the stream and the pusher Pod. Status is
written by the status loop from what the pusher reports."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import RESTREAM, Restream
from streamops.control.restream.specs.names import pusher_pod_name
from streamops.control.restream.specs.owner_patch import restream_owner_patch
from streamops.control.restream.specs.pod import pusher_pod
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse, read_secret_key, read_stream
from streamops.control.workers.children import remove_pod, roll_pod
from streamops.control.workers.ingest_address import allocated_ingest_ports
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.restarts import IMMEDIATE, KEEP, RESTARTS_ANNOTATION, PodChange
from streamops.kube.client import KubeApi, NamespaceTerminating
from streamops.kube.manifests import Body


@dataclass(frozen=True)
class RestreamOutcome:
    generation: int | None
    invalid_spec: str | None = None
    waiting_for_stream: bool = False  # no Pod yet: the stream (or its ingest ports) is missing
    key_secret_missing: str | None = None  # the referenced target-key Secret (or its key) does not exist
    key_secret_refused: str | None = None  # ... is not labelled for use by specs (tenancy.py): why
    stream_uid: str | None = None  # the stream the Pod was built for
    # The resourceVersion of the body the owner patch was sent with: a reconcile that is handed the
    # same body again (the watch has not shown the patch yet) does not send it again.
    owner_patched_at: str | None = None
    pod_change: PodChange = KEEP  # the pusher Pod replaced, or kept until it is idle (restarts.py)


def reconcile_restream(
    api: KubeApi,
    settings: OperatorSettings,
    body: Body,
    allocator: PortAllocator | None = None,
    owner_patched_at: str | None = None,
) -> RestreamOutcome:
    """Idempotent. The pusher Pod exists while `active` (it waits for the feed by itself).
    `owner_patched_at` is the previous outcome's (see RestreamOutcome)."""
    parsed = parse(Restream, body)
    raw, generation, restream = parsed.raw, parsed.generation, parsed.obj
    if restream is None:
        return RestreamOutcome(generation, invalid_spec=parsed.problem)
    namespace, uid = restream.metadata.namespace or "", restream.metadata.uid
    current = api.get("Pod", namespace, pusher_pod_name(restream.metadata.name))
    try:
        if not restream.spec.active:
            remove_pod(api, current, uid, allocator)
            return RestreamOutcome(generation)
        stream = read_stream(api, namespace, restream.spec.stream_ref.name)
        if stream is None:
            return RestreamOutcome(generation, waiting_for_stream=True)
        ref = restream.spec.stream_key_secret_ref
        key = read_secret_key(api, namespace, ref, "streamKeySecretRef", settings) if ref is not None else None
        if key is not None and key.refused is not None:
            # The target would receive the Secret's value: a running pusher (made before the policy) goes.
            remove_pod(api, current, uid, allocator)
            return RestreamOutcome(generation, key_secret_refused=key.refused)
        if key is not None and key.missing is not None:
            # A Pod now would hang in ContainerCreating: say so instead, and create it once the key exists.
            return RestreamOutcome(generation, key_secret_missing=key.missing)
        ingest_ports = host_ports = None
        if allocator is not None:
            ingest_ports = allocated_ingest_ports(api, stream)
        change = KEEP
        if allocator is None or ingest_ports is not None:
            if allocator is not None:
                host_ports = ports_of(current) or allocator.allocate(["http"])
            desired = pusher_pod(restream, stream, settings, ingest_ports, host_ports)
            busy = bool(restream.status and restream.status.live)
            immediate = restream.metadata.annotations.get(RESTARTS_ANNOTATION) == IMMEDIATE
            change = roll_pod(api, desired, current, uid, generation, busy, immediate).change
        # The stream as an owner (its deletion takes the Restream along): after the Pod, which is
        # what a new Restream waits for, and also while the stream's ports are not there yet.
        meta = raw.get("metadata", {})
        owner_patch = restream_owner_patch(meta, stream)
        version = meta.get("resourceVersion")
        if owner_patch is None or owner_patched_at != version:
            owner_patched_at = None
        if owner_patch is not None and owner_patched_at is None:
            api.patch_custom(RESTREAM, namespace, restream.metadata.name, owner_patch)
            owner_patched_at = version
        if allocator is not None and ingest_ports is None:
            return RestreamOutcome(generation, waiting_for_stream=True, owner_patched_at=owner_patched_at)
        return RestreamOutcome(
            generation, stream_uid=stream.metadata.uid, owner_patched_at=owner_patched_at, pod_change=change
        )
    except NamespaceTerminating:
        return RestreamOutcome(generation)

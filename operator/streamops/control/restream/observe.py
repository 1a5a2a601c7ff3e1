"""What a Restream's reconcile reads before it decides anything (docs/design/reconcile-plan.md):
its stream, the stream's shared pusher Pod (docs/design/shared-pusher.md) and every active Restream
of the stream with the key and CA Secrets it references (values kept in memory only, as SecretStr;
read once for all the stream's reconciles within a short while, secret_reads.py),
the stream's ingest ports, the Restream's own pusher Pod of an older operator, the pusher's node (a
cordoned one: the drain signal) and its PodDisruptionBudget. Reads only;
plan.py decides from what this returns."""

from __future__ import annotations

import base64
from collections.abc import Callable

from pydantic import SecretStr

from streamops.api import RESTREAM, Restream
from streamops.control.restream.observation import Observed, Target
from streamops.control.restream.secret_reads import RecentSecrets, recent_secrets
from streamops.control.restream.specs.names import pusher_pod_name, pusher_slots, shared_pusher_pod_name
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse
from streamops.control.shared.spec_reads import read_stream
from streamops.control.shared.tenancy import secret_reference_refusal, secret_use_refusal
from streamops.control.workers.allocated_ports import allocated_ingest_ports
from streamops.control.workers.cluster_nodes import by_name
from streamops.control.workers.drain import drain_reason, pod_node, room_elsewhere
from streamops.control.workers.handover_marks import marks_of, serving_index
from streamops.kube.manifests import Manifest
from streamops.kube.reads import KubeReads


def _secret_value(secret: Manifest | None, key: str) -> str | None:
    data = (secret or {}).get("data") or {}
    return base64.b64decode(data[key]).decode() if key in data else None


def _read_secret(
    secrets: RecentSecrets,
    api: KubeReads,
    namespace: str,
    name: str,
    key: str,
    refusal: Callable[[Manifest | None], str | None],
) -> tuple[Manifest | None, str | None, str | None]:
    """(the Secret, the tenancy policy's refusal, the key's value); a recent read is handed out again
    only when it was usable (admitted, with the key)."""
    secret = secrets.get(api, namespace, name, lambda s: refusal(s) is None and _secret_value(s, key) is not None)
    return secret, refusal(secret), _secret_value(secret, key)


def read_target(api: KubeReads, restream: Restream, settings: OperatorSettings, fresh: bool = True) -> Target:
    """`fresh`: read its Secrets now (the reconciled Restream's own); else a sibling's, whose Secrets
    a sibling's reconcile may have read within the last moments (secret_reads.py)."""
    namespace = restream.metadata.namespace or ""
    secrets = recent_secrets(api)
    if fresh:
        secrets.forget(namespace, *_secret_names(restream))
    versions: list[str] = []
    key: str | None = None
    ref = restream.spec.stream_key_secret_ref
    if ref is not None:
        secret, refused, key = _read_secret(
            secrets, api, namespace, ref.name, ref.key,
            lambda s: secret_reference_refusal("streamKeySecretRef", ref.name, s, settings.tenancy),
        )  # fmt: skip
        if refused is not None:
            return Target(restream, refused=refused)
        if key is None:
            return Target(restream, missing=f"{ref.name} (key {ref.key})" if secret else ref.name)
        versions.append(str((secret or {}).get("metadata", {}).get("resourceVersion", "")))
    ca: str | None = None
    ca_ref = restream.spec.tls.ca_secret_ref if restream.spec.tls else None
    if ca_ref is not None:
        # The CA decides where the key goes: its Secret follows the same tenancy rule.
        secret, refused, ca = _read_secret(
            secrets, api, namespace, ca_ref.name, ca_ref.key,
            lambda s: secret_use_refusal("tls.caSecretRef", ca_ref.name, s, settings.tenancy),
        )  # fmt: skip
        if refused is not None:
            return Target(restream, refused=refused)
        if ca is None:  # fail closed: without it the pusher would trust the system's store instead
            return Target(restream, missing=f"{ca_ref.name} (key {ca_ref.key}, tls.caSecretRef)")
        versions.append(str((secret or {}).get("metadata", {}).get("resourceVersion", "")))
    return Target(
        restream,
        key=SecretStr(key) if key is not None else None,
        ca=SecretStr(ca) if ca is not None else None,
        secret_versions=tuple(versions),
    )


def _secret_names(restream: Restream) -> list[str]:
    ca_ref = restream.spec.tls.ca_secret_ref if restream.spec.tls else None
    return [r.name for r in (restream.spec.stream_key_secret_ref, ca_ref) if r is not None]


def _deleting(restream: Restream) -> bool:
    return bool((restream.metadata.model_extra or {}).get("deletionTimestamp"))


def stream_restreams(api: KubeReads, restream: Restream) -> list[Restream]:
    """The active Restreams of the restream's stream, this one as handed over (the list may lag)."""
    namespace, stream = restream.metadata.namespace or "", restream.spec.stream_ref.name
    others = []
    for raw in api.stream_children(RESTREAM, namespace, stream):
        other = parse(Restream, raw).obj
        if other is None or other.metadata.uid == restream.metadata.uid or _deleting(other):
            continue
        if other.spec.stream_ref.name == stream and other.spec.active:
            others.append(other)
    mine = [restream] if restream.spec.active and not _deleting(restream) else []
    return sorted([*mine, *others], key=lambda r: r.metadata.name)


def observe(api: KubeReads, restream: Restream, settings: OperatorSettings, host_network: bool) -> Observed:
    """`host_network`: an allocator is given (the stream's ingest ports are read)."""
    namespace, name = restream.metadata.namespace or "", restream.metadata.name
    stream_name = restream.spec.stream_ref.name
    slots = pusher_slots(stream_name)
    current, other = _pushers(api, namespace, slots)
    nodes = api.nodes()
    drain, room = drain_reason(current, by_name(nodes or []).get(pod_node(current))), room_elsewhere(current, nodes)
    own_name = pusher_pod_name(name)
    legacy = api.get("Pod", namespace, own_name) if own_name != shared_pusher_pod_name(stream_name) else None
    stream = read_stream(api, namespace, stream_name)
    if stream is None:
        return Observed(current, legacy_pusher=legacy, other=other, slots=slots, drain=drain, room=room)
    targets = tuple(
        read_target(api, r, settings, fresh=r.metadata.uid == restream.metadata.uid)
        for r in stream_restreams(api, restream)
    )
    mine = next((t for t in targets if t.restream.metadata.uid == restream.metadata.uid), None)
    return Observed(
        pusher=current,
        stream=stream,
        key_missing=mine.missing if mine is not None else None,
        key_refused=mine.refused if mine is not None else None,
        host_network=host_network,
        ingest_ports=allocated_ingest_ports(api, stream) if host_network else None,
        targets=targets,
        legacy_pusher=legacy,
        other=other,
        slots=slots,
        drain=drain,
        budget=api.get("PodDisruptionBudget", namespace, slots[0]),  # (from the operator's index)
        room=room,
    )


def _pushers(api: KubeReads, namespace: str, slots: tuple[str, str]) -> tuple[Manifest | None, Manifest | None]:
    """(the pusher, the Pod in its other slot): of two, the one that is no one's successor is the
    pusher until it is gone (handover_marks.serving_index)."""
    pods = [api.get("Pod", namespace, name) for name in slots]
    index = serving_index([marks_of(name, pod) for name, pod in zip(slots, pods, strict=True)])
    if index is None:
        return None, None
    return pods[index], pods[1 - index]

"""What a Restream's reconcile reads before it decides anything (docs/design/reconcile-plan.md):
its pusher Pod, its stream, the target key's Secret it references, the stream's ingest ports.
Reads only; plan.py decides from what this returns."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream, Restream
from streamops.control.restream.specs.names import pusher_pod_name
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.shared.spec_checks import read_secret_key, read_stream
from streamops.control.shared.tenancy import secret_use_refusal
from streamops.control.workers.ingest_address import IngestPortMap, allocated_ingest_ports
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class Observed:
    """What exists of a Restream's children and what it names. An inactive Restream reads only its
    pusher; one whose stream is missing nothing more. The key's value is not kept: the pusher
    reads it from its mount."""

    pusher: Manifest | None  # its pusher Pod
    stream: LiveStream | None = None
    key_missing: str | None = None  # the referenced target-key Secret (or its key) does not exist
    key_refused: str | None = None  # ... is not labelled for use by specs (tenancy.py): why
    host_network: bool = False  # workers run on the host network: the ingest ports were read
    ingest_ports: IngestPortMap | None = None  # the stream's primary ingest's (None: not allocated yet)


def observe(api: KubeApi, restream: Restream, settings: OperatorSettings, host_network: bool) -> Observed:
    """`host_network`: an allocator is given (the stream's ingest ports are read)."""
    namespace = restream.metadata.namespace or ""
    current = api.get("Pod", namespace, pusher_pod_name(restream.metadata.name))
    if not restream.spec.active:
        return Observed(current)
    stream = read_stream(api, namespace, restream.spec.stream_ref.name)
    if stream is None:
        return Observed(current)
    ref = restream.spec.stream_key_secret_ref
    key = read_secret_key(api, namespace, ref, "streamKeySecretRef", settings) if ref is not None else None
    ca_ref = restream.spec.tls.ca_secret_ref if restream.spec.tls else None
    # The CA decides where the key goes: its Secret follows the same tenancy rule, and one that does
    # not exist yet too (the pusher's mount is optional: the kubelet would fill it in unchecked).
    ca_refused = (
        secret_use_refusal("tls.caSecretRef", ca_ref.name, api.get("Secret", namespace, ca_ref.name), settings)
        if ca_ref
        else None
    )
    return Observed(
        pusher=current,
        stream=stream,
        key_missing=key.missing if key is not None else None,
        key_refused=(key.refused if key is not None else None) or ca_refused,
        host_network=host_network,
        ingest_ports=allocated_ingest_ports(api, stream) if host_network else None,
    )

"""The Secrets a LiveStream owns or names: its generated stream key, its worker credential, where
its key and its RTMPS certificate are."""

from __future__ import annotations

from base64 import b64encode

from streamops.api import LiveStream
from streamops.api.common import SecretKeyRef
from streamops.contract.worker_credential import CREDENTIAL_KEY, credential_secret_name
from streamops.control.livestream.specs.child_metadata import child_metadata, labelled
from streamops.control.livestream.specs.features import rtmps_on
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABELS
from streamops.kube.manifests import Manifest
from streamops.kube.naming import child_name

GENERATED_KEY_NAME = "streamKey"


def stream_key_ref(stream: LiveStream) -> SecretKeyRef | None:
    """Where the stream key lives: the referenced Secret, or the generated one. None for pull streams."""
    push = stream.spec.source.push
    if push is None:
        return None
    if push.stream_key_secret_ref is not None:
        return push.stream_key_secret_ref
    return SecretKeyRef(name=child_name(stream.metadata.name, "stream-key")[:253], key=GENERATED_KEY_NAME)


def worker_credential_secret(stream: LiveStream, credential: str) -> Manifest:
    """The stream's worker credential (contract.worker_credential), owned by the stream."""
    name = credential_secret_name(stream.metadata.name)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": child_metadata(stream, name, "worker-credential"),
        "data": {CREDENTIAL_KEY: b64encode(credential.encode()).decode()},
    }


def stream_key_secret(stream: LiveStream, key: str) -> Manifest:
    """The generated stream-key Secret (owned by the stream: it goes away with it). Labelled for use
    by specs of the namespace (a Restream to this stream names it, tenancy.py)."""
    ref = stream_key_ref(stream)
    assert ref is not None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": labelled(child_metadata(stream, ref.name, "stream-key"), ALLOW_REFERENCE_LABELS),
        "data": {ref.key: b64encode(key.encode()).decode()},
    }


def tls_secret_name(stream: LiveStream) -> str | None:
    """The kubernetes.io/tls Secret the RTMPS listener's certificate comes from (with rtmps)."""
    push = stream.spec.source.push
    return push.tls.secret_name if push is not None and push.tls is not None and rtmps_on(stream) else None

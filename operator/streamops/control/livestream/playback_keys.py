"""A namespace's playback keys Secret (docs/design/playback.md, "Signed playback"), as a manifest: the
operator creates it once, the first time a signed stream needs it (its ingest mounts it, the edge
too), and `streamops playback rotate-key` creates it when missing. Owned by nothing: tokens handed out
must keep working whatever happens to the streams."""

from __future__ import annotations

import secrets
from base64 import b64encode
from datetime import UTC, datetime

from streamops.contract.playback_token import CURRENT_KEY, KEY_BYTES, KEYS_SECRET, ROTATED_AT_ANNOTATION
from streamops.kube.manifests import Manifest
from streamops.kube.naming import MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL


def playback_keys_secret(namespace: str, now: datetime) -> Manifest:
    """A namespace's first signing key (rotation: `streamops playback rotate-key`)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": KEYS_SECRET,
            "namespace": namespace,
            "labels": {NAME_LABEL: "streamops", MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": {ROTATED_AT_ANNOTATION: now.astimezone(UTC).isoformat().replace("+00:00", "Z")},
        },
        "data": {CURRENT_KEY: b64encode(secrets.token_bytes(KEY_BYTES)).decode()},
    }

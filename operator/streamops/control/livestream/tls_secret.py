"""The RTMPS certificate's Secret (source.push.tls.secretName): whether the ingest can use it.

Checked before the ingest Pod is made: a Secret volume whose Secret (or one of its keys) is
missing keeps the Pod in ContainerCreating, which says nothing to the user. The check looks at
the keys and their PEM labels only; nothing of their content is ever quoted back.
"""

from __future__ import annotations

import base64
import binascii

from streamops.contract.ingest import TLS_CERT_FILE, TLS_KEY_FILE
from streamops.control.livestream import reasons
from streamops.kube.manifests import Body

FIELD = "source.push.tls.secretName"
PEM_LABELS = {TLS_CERT_FILE: (b"-----BEGIN CERTIFICATE-----",), TLS_KEY_FILE: (b"PRIVATE KEY-----",)}
WHAT = {TLS_CERT_FILE: "a PEM certificate", TLS_KEY_FILE: "a PEM private key"}


def _decoded(value: object) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return b""


def tls_secret_problem(name: str, secret: Body | None) -> tuple[str, str] | None:
    """(reason, message) when the Secret cannot serve as the RTMPS certificate, else None."""
    if secret is None:
        return (
            reasons.TLS_SECRET_NOT_FOUND,
            f"Secret {name} named in {FIELD} does not exist (cert-manager writes it once the Certificate is "
            "issued); the ingest starts when it does",
        )
    data = secret.get("data") or {}
    missing = [key for key in (TLS_CERT_FILE, TLS_KEY_FILE) if not data.get(key)]
    if missing:
        return (
            reasons.TLS_SECRET_INVALID,
            f"Secret {name} named in {FIELD} has no {' and no '.join(missing)}: rtmps needs a kubernetes.io/tls "
            "Secret (keys tls.crt and tls.key)",
        )
    for key, labels in PEM_LABELS.items():
        if not any(label in _decoded(data[key]) for label in labels):
            return reasons.TLS_SECRET_INVALID, f"Secret {name} named in {FIELD}: {key} is not {WHAT[key]}"
    return None

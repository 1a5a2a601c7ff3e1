"""The storage's Secrets, read the one way the operator (before a recorder Pod, for retention) and
`streamops video url` need them: the credentials Secret (accessKeyId, secretAccessKey) and the CA
Secret (ca.crt). What is missing is said by Secret and key, never with a value."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from streamops.api.recording import CA_KEY, CREDENTIAL_KEYS

CREDENTIALS_FIELD = "storage.s3.credentialsSecret"
CA_FIELD = "storage.s3.caSecret"


class StorageSecretMissing(Exception):
    """A Secret the storage names is missing, or a key of it (the message names both)."""


def _problem(secret: Mapping[str, Any] | None, name: str, field: str, keys: tuple[str, ...]) -> str | None:
    if secret is None:
        return f"Secret {name} ({field}) does not exist"
    data = secret.get("data") or {}
    missing = [k for k in keys if not data.get(k)]
    return f"Secret {name} ({field}) has no key {' and no key '.join(missing)}" if missing else None


def credentials_problem(secret: Mapping[str, Any] | None, name: str) -> str | None:
    return _problem(secret, name, CREDENTIALS_FIELD, CREDENTIAL_KEYS)


def ca_problem(secret: Mapping[str, Any] | None, name: str) -> str | None:
    return _problem(secret, name, CA_FIELD, (CA_KEY,))


def credentials(secret: Mapping[str, Any] | None, name: str) -> tuple[str, str]:
    """(access key, secret key) of the credentials Secret."""
    problem = credentials_problem(secret, name)
    if problem is not None or secret is None:
        raise StorageSecretMissing(problem)
    access, secret_key = (base64.b64decode(str(secret["data"][k])).decode().strip() for k in CREDENTIAL_KEYS)
    return access, secret_key


def ca_bundle(secret: Mapping[str, Any] | None, name: str) -> bytes:
    """The PEM bundle of the CA Secret."""
    problem = ca_problem(secret, name)
    if problem is not None or secret is None:
        raise StorageSecretMissing(problem)
    return base64.b64decode(str(secret["data"][CA_KEY]))

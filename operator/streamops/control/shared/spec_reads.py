"""The objects a spec refers to, as read from the API: the stream a Recording, Clip or Restream
names, a referenced key Secret (spec_checks.py: the checks of the spec itself, pure)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from pydantic import ValidationError

from streamops.api import LIVESTREAM, LiveStream
from streamops.api.common import SecretKeyRef
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.tenancy import secret_reference_refusal
from streamops.kube.reads import KubeReads


def read_stream(api: KubeReads, namespace: str, name: str) -> LiveStream | None:
    """The LiveStream a Recording or Restream names; None when there is none or it is invalid (the
    stream's own status says what is wrong with it)."""
    raw = api.get_custom(LIVESTREAM, namespace, name)
    if raw is None:
        return None
    try:
        return LiveStream.model_validate(raw)
    except ValidationError:
        return None


@dataclass(frozen=True)
class ReferencedKey:
    """A key a spec references in a Secret: its value, or what is missing (as status says it), or
    why the tenancy policy refuses the Secret (its opt-in label is not there)."""

    value: bytes | None = None
    missing: str | None = None
    refused: str | None = None


def read_secret_key(
    api: KubeReads, namespace: str, ref: SecretKeyRef, field: str = "", settings: OperatorSettings | None = None
) -> ReferencedKey:
    """The referenced key's value (decoded; it never leaves the operator's memory). With `settings`
    the Secret a user named (in `field`) must carry the opt-in label (tenancy.py)."""
    secret = api.get("Secret", namespace, ref.name)
    refused = secret_reference_refusal(field, ref.name, secret, settings.tenancy) if settings is not None else None
    if refused is not None:
        return ReferencedKey(refused=refused)
    data = (secret or {}).get("data") or {}
    if ref.key not in data:
        return ReferencedKey(missing=f"{ref.name} (key {ref.key})" if secret else ref.name)
    return ReferencedKey(value=base64.b64decode(data[ref.key]))

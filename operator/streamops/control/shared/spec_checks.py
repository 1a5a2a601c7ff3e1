"""Checks every kind makes of its spec and of the objects it refers to: a spec the operator
cannot use, the stream a Recording or Restream names, a referenced key Secret."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from streamops.api import LIVESTREAM, LiveStream
from streamops.api.common import SecretKeyRef
from streamops.control.runtime.indexes import plain
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.shared.tenancy import secret_reference_refusal
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Body, Manifest

SPEC_REJECTED = "spec rejected by the operator"
ModelT = TypeVar("ModelT", bound=BaseModel)


def spec_problem(error: ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in error.errors())
    return f"{SPEC_REJECTED}: {problems}"


@dataclass(frozen=True)
class Parsed(Generic[ModelT]):
    """An object as a reconcile reads it: the plain body, its generation, and the model or the
    problem with its spec."""

    raw: Manifest
    generation: int | None
    obj: ModelT | None = None
    problem: str | None = None


def parse(model: type[ModelT], body: Body) -> Parsed[ModelT]:
    raw: Manifest = plain(body)
    generation = raw.get("metadata", {}).get("generation")
    try:
        return Parsed(raw, generation, model.model_validate(raw))
    except ValidationError as e:
        return Parsed(raw, generation, problem=spec_problem(e))


def read_stream(api: KubeApi, namespace: str, name: str) -> LiveStream | None:
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
    api: KubeApi, namespace: str, ref: SecretKeyRef, field: str = "", settings: OperatorSettings | None = None
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

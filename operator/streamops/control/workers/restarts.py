"""When a running worker Pod is replaced, and why (pure). docs/design/worker-restarts.md.

A worker Pod carries, besides its spec, a digest of each part of it (`SPEC_PARTS_ANNOTATION`): one
entry per field of the worker's configuration and one per field of the Pod spec and of each
container. The first part whose digest differs from the desired Pod's names the restart. A
configuration field the running Pod does not list, whose desired value is the contract's default,
is no difference: an operator upgrade that adds a contract field changes no running worker.

A difference restarts the worker now when the owner's spec changed it (the owner's generation is
not the one the Pod was built for, and the worker's configuration differs in a part the owner's own
spec decides: not one built from an object it references, a quality set, while it references the
same one, `BUILT_FROM_ANNOTATION`), when the worker is idle
(no publisher, no recording, no push), or when the owner asks (`RESTARTS_ANNOTATION: immediate`).
Otherwise a busy ingest, pusher or recorder on a claim is handed over (make-before-break,
docs/design/handover.md, Parts 2 and 5: `handover`, the restart policy by default), and any other
busy worker waits for it to be idle, and the owner's status says so (RestartPending); the restart
policy `idle` makes them wait too."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from streamops.api.common import GROUP
from streamops.kube.manifests import Manifest
from streamops.kube.naming import IMMEDIATE, RESTARTS_ANNOTATION, SPEC_HASH_ANNOTATION

SPEC_PARTS_ANNOTATION = f"{GROUP}/spec-parts"  # JSON {part: digest}: what a running worker was built with
BUILT_FOR_ANNOTATION = f"{GROUP}/built-for-generation"  # the owner's metadata.generation it was built for
REPLACED_FOR_ANNOTATION = f"{GROUP}/replaced-for"  # on a Pod being replaced: the first difference
# JSON {part prefix: reference}: configuration parts built from another object the owner names (an
# ingest's config.transcoding. from a QualitySet): their changes are that object's, not the owner's.
BUILT_FROM_ANNOTATION = f"{GROUP}/built-from"
CONFIG_PREFIX = "config."
DEFAULT_MARK = "d:"  # a configuration field at the contract's default: absent from an older Pod's parts
UNKNOWN_PART = "spec (built by an operator that did not record its parts)"

Action = Literal["keep", "replace", "wait", "handover"]
# The restart policy (chart worker.restartPolicy; a stream's RESTARTS_ANNOTATION overrides it): what
# becomes of a busy ingest that differs from what it should run.
RestartPolicy = Literal["handover", "idle", "immediate"]
RESTART_POLICIES: tuple[RestartPolicy, ...] = ("handover", "idle", "immediate")


def restart_policy(annotation: str | None, default: RestartPolicy) -> RestartPolicy:
    """The owner's annotation when it names a policy, else the operator's."""
    return next((p for p in RESTART_POLICIES if p == annotation), default)


_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def config_parts(config: BaseModel, prefix: str = CONFIG_PREFIX) -> dict[str, str]:
    """One digest per configuration field (camelCase, as the worker reads it; a nested object field
    by field); a field at its default is marked, so that a Pod built before the field existed does
    not differ by it."""
    parts: dict[str, str] = {}
    for name, info in type(config).model_fields.items():
        value = getattr(config, name)
        key = f"{prefix}{info.alias or name}"
        if value is None:
            continue  # not sent (WorkerConfig.wire): the worker's default
        if isinstance(value, BaseModel):
            parts.update(config_parts(value, f"{key}."))
            continue
        at_default = not info.is_required() and value == info.get_default(call_default_factory=True)
        dumped = _ANY.dump_python(value, mode="json", by_alias=True)
        parts[key] = (DEFAULT_MARK if at_default else "") + _digest(dumped)
    return parts


def spec_parts(spec: Manifest, config_env: str) -> dict[str, str]:
    """One digest per Pod spec field and per container field; the worker container's configuration
    variable is left out of its env (config_parts says it field by field)."""
    parts: dict[str, str] = {}
    for key, value in spec.items():
        if key != "containers":
            parts[f"spec.{key}"] = _digest(value)
            continue
        for container in value:
            for field, item in container.items():
                if field == "env":
                    item = [e for e in item if e.get("name") != config_env]
                if field != "name":
                    parts[f"containers[{container['name']}].{field}"] = _digest(item)
    return parts


def first_difference(want: Mapping[str, str], have: Mapping[str, str]) -> str | None:
    """The first part (in the desired Pod's order) whose digest differs, then any part the desired
    Pod no longer has; None when the running Pod has what is wanted."""
    for part, digest in want.items():
        had = have.get(part)
        if had is None and part.startswith(CONFIG_PREFIX) and digest.startswith(DEFAULT_MARK):
            continue  # a field newer than the running worker, at its default: what it does anyway
        if had is None or had.removeprefix(DEFAULT_MARK) != digest.removeprefix(DEFAULT_MARK):
            return part
    return next((part for part in have if part not in want), None)


def parts_of(pod: Manifest) -> dict[str, str] | None:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(SPEC_PARTS_ANNOTATION)
    try:
        parts = json.loads(raw) if raw else None
    except ValueError:
        return None
    return parts if isinstance(parts, dict) else None


def built_from(pod: Manifest) -> dict[str, str]:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(BUILT_FROM_ANNOTATION)
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def owner_difference(desired: Manifest, current: Manifest) -> str | None:
    """The first difference the owner's own spec can have made: the parts built from an object it
    references are left out when the running Pod was built from that same object (a change there is
    the object's: a quality set edited). One built from another object, or from none, is the
    owner's doing (the user named another set, or a set instead of inline renditions)."""
    want, have = parts_of(desired), parts_of(current)
    if want is None or have is None:
        return pod_difference(desired, current)
    theirs = built_from(current)
    same = tuple(prefix for prefix, ref in built_from(desired).items() if theirs.get(prefix) == ref)

    def own(parts: dict[str, str]) -> dict[str, str]:
        return {part: digest for part, digest in parts.items() if not part.startswith(same)} if same else parts

    return first_difference(own(want), own(have))


def pod_difference(desired: Manifest, current: Manifest) -> str | None:
    """What differs between the running Pod and the desired one (None: nothing a worker needs).
    A Pod from an operator that recorded no parts is compared by its whole spec's hash."""
    want, have = parts_of(desired), parts_of(current)
    if want is None or have is None:
        digest = ((current.get("metadata") or {}).get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
        return None if digest == desired["metadata"]["annotations"].get(SPEC_HASH_ANNOTATION) else UNKNOWN_PART
    return first_difference(want, have)


@dataclass(frozen=True)
class PodChange:
    """What to do with a running worker Pod: keep it, replace it now, wait until it is idle, or hand
    it over to a successor; `part` is the first difference (None when kept for having none).
    `retry_at`: a handover held after its last successor failed (handover_marks.HandoverFailure)."""

    action: Action
    part: str | None = None
    retry_at: datetime | None = None


KEEP = PodChange("keep")


def pod_change(
    part: str | None,
    built_for: str | None,
    generation: int | None,
    busy: bool,
    immediate: bool,
    owner_part: str | None = None,
    referenced: bool = False,
    handover: bool = False,
) -> PodChange:
    """The decision for a running Pod whose first difference is `part` (docstring of the module).
    `referenced`: some parts were built from objects the owner references; `owner_part` is then the
    first difference of the others (owner_difference), the one the owner's generation can explain.
    `handover`: the worker can be handed over (a busy ingest under the policy `handover`): any
    difference, the owner's spec edits included, is applied that way instead of waiting or cutting."""
    if part is None:
        return KEEP
    owner_changed = generation is not None and built_for is not None and built_for != str(generation)
    owners = owner_part if referenced else part
    if not busy or immediate:
        return PodChange("replace", part)
    owners_config = owner_changed and owners is not None and owners.startswith(CONFIG_PREFIX)
    if handover:
        return PodChange("handover", owners if owners_config else part)
    if owners_config:
        return PodChange("replace", owners)
    return PodChange("wait", part)


def restart_message(component: str, pod: str, change: PodChange) -> str:
    if change.action == "replace":
        return f"{component} Pod {pod} replaced: {change.part} changed"
    return (
        f"{component} Pod {pod} keeps running until it is idle: {change.part} changed "
        f"(annotate {RESTARTS_ANNOTATION}={IMMEDIATE} to restart it now)"
    )

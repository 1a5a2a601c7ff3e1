"""The admin's tenancy policy, as pure checks: which annotation keys and playback paths a spec's
author may have the operator set, and which Secrets a spec may name. Callers read the objects and
say the refusal in status. Why: docs/design/tenancy.md."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from streamops.api import GROUP
from streamops.control.runtime.settings import OperatorSettings
from streamops.kube.manifests import Body

# A Secret's owner opts in to its use by specs of the namespace (the operator reads Secrets with its
# own rights, which a namespace's LiveStream authors may not have).
ALLOW_REFERENCE_LABEL = f"{GROUP}/allow-reference"
ALLOW_REFERENCE_LABELS = {ALLOW_REFERENCE_LABEL: "true"}


def refused_annotations(keys: Iterable[str], allowed: Sequence[str]) -> list[str]:
    """The keys no pattern of `allowed` matches (fnmatch: `*` matches any characters, `/` too)."""
    return sorted(key for key in keys if not any(fnmatchcase(key, pattern) for pattern in allowed))


def annotations_refusal(field: str, keys: Iterable[str], settings: OperatorSettings) -> str | None:
    refused = refused_annotations(keys, settings.tenancy_allowed_annotations)
    if not refused:
        return None
    return f"{field} {', '.join(refused)} not on the operator's allow-list (chart value tenancy.allowedAnnotations)"


def namespace_prefix(namespace: str) -> str:
    return f"/streams/{namespace}/"


def playback_path_refusal(field: str, path: str, namespace: str, settings: OperatorSettings) -> str | None:
    """A path must lie under /streams/<namespace>/: with pathType Prefix the longest prefix wins on
    a shared host, so any other path could take over another namespace's URLs (or all of them). A
    `.` or `..` segment is outside too: proxies resolve it (/streams/ns/.. is /streams/)."""
    dots = {".", ".."} & set(path.split("/"))
    if settings.tenancy_playback_path_any_prefix or (path.startswith(namespace_prefix(namespace)) and not dots):
        return None
    return (
        f"{field} {path} is outside {namespace_prefix(namespace)} (the operator serves a namespace's streams "
        "under its own prefix only; chart value tenancy.playbackPathAnyPrefix)"
    )


def secret_reference_refusal(field: str, name: str, secret: Body | None, settings: OperatorSettings) -> str | None:
    """None when the Secret may be used, or does not exist (the caller says that its own way).
    Nothing of the Secret but its name is ever quoted."""
    if secret is None or not settings.tenancy_require_secret_label:
        return None
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if labels.get(ALLOW_REFERENCE_LABEL) == "true":
        return None
    return (
        f"Secret {name} named in {field} is not labelled {ALLOW_REFERENCE_LABEL}=true (a spec may use a Secret "
        "only when the Secret's owner labels it so)"
    )

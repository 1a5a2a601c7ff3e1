"""The admin's tenancy policy, as pure checks: which annotation keys and playback paths a spec's
author may have the operator set, and which Secrets a spec may name. Callers read the objects and
say the refusal in status. Why: docs/design/tenancy.md."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from streamops.api import GROUP
from streamops.control.shared.settings import IngestSettings, OperatorSettings, TenancySettings
from streamops.kube.manifests import Body

# A Secret's owner opts in to its use by specs of the namespace (the operator reads Secrets with its
# own rights, which a namespace's LiveStream authors may not have).
ALLOW_REFERENCE_LABEL = f"{GROUP}/allow-reference"
ALLOW_REFERENCE_LABELS = {ALLOW_REFERENCE_LABEL: "true"}


def refused_annotations(keys: Iterable[str], allowed: Sequence[str]) -> list[str]:
    """The keys no pattern of `allowed` matches (fnmatch: `*` matches any characters, `/` too). A key
    the list names as it is passes too: `[a]` as a pattern matches only `a`."""
    return sorted(key for key in keys if key not in allowed and not any(fnmatchcase(key, p) for p in allowed))


def annotations_refusal(field: str, keys: Iterable[str], tenancy: TenancySettings) -> str | None:
    refused = refused_annotations(keys, tenancy.allowed_annotations)
    if not refused:
        return None
    return f"{field} {', '.join(refused)} not on the operator's allow-list (chart value tenancy.allowedAnnotations)"


def namespace_prefix(namespace: str) -> str:
    return f"/streams/{namespace}/"


def playback_path_refusal(field: str, path: str, namespace: str, tenancy: TenancySettings) -> str | None:
    """A path must lie under /streams/<namespace>/: with pathType Prefix the longest prefix wins on
    a shared host, so any other path could take over another namespace's URLs (or all of them). A
    `.` or `..` segment is outside too: proxies resolve it (/streams/ns/.. is /streams/)."""
    dots = {".", ".."} & set(path.split("/"))
    if tenancy.playback_path_any_prefix or (path.startswith(namespace_prefix(namespace)) and not dots):
        return None
    return (
        f"{field} {path} is outside {namespace_prefix(namespace)} (the operator serves a namespace's streams "
        "under its own prefix only; chart value tenancy.playbackPathAnyPrefix)"
    )


# How far each Service type opens a stream: on the pod network, on every node's address, at a load
# balancer's public address (which holds nodePorts on every node too).
SERVICE_TYPE_WIDTH = {"ClusterIP": 0, "NodePort": 1, "LoadBalancer": 2}


def wider_than_default(own_type: str | None, ingest: IngestSettings) -> bool:
    """The stream's own Service type opens it more than the operator's default would: only then is
    there anything to allow (a stream asking for what every stream gets is the admin's choice)."""
    return own_type is not None and SERVICE_TYPE_WIDTH[own_type] > SERVICE_TYPE_WIDTH[ingest.service_type]


def service_type_refusal(own_type: str | None, settings: OperatorSettings) -> str | None:
    """A NodePort opens the stream's ports on every node's address; a LoadBalancer a public address
    of its own (and nodePorts): each only with the admin's switch when wider than the default."""
    if not wider_than_default(own_type, settings.ingest):
        return None
    if own_type == "LoadBalancer" and not settings.tenancy.allow_load_balancer:
        return "spec.ingest.service.type LoadBalancer is not allowed (chart value tenancy.allowLoadBalancer)"
    if own_type == "NodePort" and not (settings.tenancy.allow_node_port or settings.tenancy.allow_load_balancer):
        return "spec.ingest.service.type NodePort is not allowed (chart value tenancy.allowNodePort)"
    return None


def fixed_node_ports_refusal(chosen: Iterable[str], tenancy: TenancySettings) -> str | None:
    """A chosen nodePort holds that port on every node, in the one range all namespaces (and the
    admin's own Services) share: a tenant could take the ports others planned for."""
    names = sorted(chosen)
    if not names or tenancy.allow_fixed_node_ports:
        return None
    return (
        f"spec.ingest.service.nodePorts ({', '.join(names)}) are not allowed (chart value tenancy.allowFixedNodePorts)"
    )


def regional_load_balancers_allowed(own_type: str | None, settings: OperatorSettings) -> bool:
    """The LoadBalancer regions' Services (a public load balancer each) come with the admin's exposure,
    or with a stream that may ask for a load balancer itself: never with a type the stream widened."""
    return settings.tenancy.allow_load_balancer or not wider_than_default(own_type, settings.ingest)


def secret_reference_refusal(field: str, name: str, secret: Body | None, tenancy: TenancySettings) -> str | None:
    """None when the Secret may be used, or does not exist (the caller says that its own way, and
    makes nothing that uses it: see secret_use_refusal otherwise). Nothing of the Secret but its name
    is ever quoted."""
    if secret is None or not tenancy.require_secret_label:
        return None
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if labels.get(ALLOW_REFERENCE_LABEL) == "true":
        return None
    return (
        f"Secret {name} named in {field} is not labelled {ALLOW_REFERENCE_LABEL}=true (a spec may use a Secret "
        "only when the Secret's owner labels it so)"
    )


def secret_use_refusal(field: str, name: str, secret: Body | None, tenancy: TenancySettings) -> str | None:
    """For a Secret a child would pick up by itself once it appears (an optional mount, an Ingress's
    TLS): one that does not exist yet is refused too, until it exists with the label. Else the
    kubelet (or the Ingress controller) would use it the moment it is created unlabelled, before any
    look of the operator's (a cert-manager output, a rotation)."""
    if secret is None and tenancy.require_secret_label:
        return (
            f"Secret {name} named in {field} does not exist yet (it is used once it exists and is labelled "
            f"{ALLOW_REFERENCE_LABEL}=true)"
        )
    return secret_reference_refusal(field, name, secret, tenancy)

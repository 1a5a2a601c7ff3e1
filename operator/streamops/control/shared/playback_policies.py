"""A LiveStream's playback rules when it names a PlaybackPolicy (`spec.playback.policyRef`): the policy
as the operator's watch holds it, and what its servers get of it, the rules as JSON in the namespace's
ConfigMap (the ingest's key) and as lines in the edge's (docs/design/playback-rules.md). No worker
knows of policies: a stream's servers read a file that the kubelet keeps up to date."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.api.common import LocalObjectRef
from streamops.api.playback_policy import PlaybackRules
from streamops.contract.ingest import RULES_CONFIGMAP
from streamops.kube.manifests import Manifest
from streamops.kube.naming import MANAGED_BY, MANAGED_BY_LABEL


@dataclass(frozen=True)
class PolicyLookup:
    """The policy a stream names, as read: its rules, or None when there is no such policy (or the
    operator cannot use it: `problem` says why)."""

    ref: LocalObjectRef
    rules: PlaybackRules | None
    problem: str | None = None

    @property
    def missing(self) -> bool:
        return self.rules is None

    def message(self, namespace: str) -> str:
        """Why the stream's viewers are refused, as its Ready condition says it."""
        why = self.problem or "does not exist"
        return (
            f"PlaybackPolicy {self.ref.name} in namespace {namespace}, named in spec.playback.policyRef, {why}: "
            "every playback request is refused (503 rules_unavailable) until it exists"
        )


def policy_ref(stream: LiveStream) -> LocalObjectRef | None:
    return stream.spec.playback.policy_ref


def rules_key(stream: str) -> str:
    """The stream's key of the namespace's rules ConfigMap (its ingest mounts only that key)."""
    return f"{stream}.json"


def rules_json(rules: PlaybackRules) -> str:
    """What the ingest reads (media/ingest/viewer_rules.py validates it as PlaybackRules)."""
    return rules.model_dump_json(by_alias=True, exclude_none=True)


def rules_configmap(namespace: str) -> Manifest:
    """The namespace's rules ConfigMap, empty (each stream merge-patches its own key: streams_rules_patch)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": RULES_CONFIGMAP, "namespace": namespace, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
        "data": {},
    }


def wanted_rules(stream: LiveStream, lookup: PolicyLookup | None) -> str | None:
    """The stream's key as it should be: the rules' JSON, None for no key (it names no policy, or one
    that is missing: its ingest then refuses every viewer)."""
    if lookup is None or lookup.rules is None:
        return None
    return rules_json(lookup.rules)


def rules_patch(stream: str, have: Manifest | None, wanted: str | None) -> Manifest | None:
    """The merge patch of the ConfigMap `have` (as read; None: none) that gives the stream's key
    `wanted` (None: removed); None when it is so already."""
    data = ((have or {}).get("data")) or {}
    key = rules_key(stream)
    if data.get(key) == wanted:
        return None
    return {"data": {key: wanted}}


def mounts_rules(pod: Manifest | None) -> bool:
    """The ingest Pod mounts its stream's key of the rules ConfigMap (it was made for a policy)."""
    volumes = ((pod or {}).get("spec") or {}).get("volumes") or []
    return any((v.get("configMap") or {}).get("name") == RULES_CONFIGMAP for v in volumes)

"""The PlaybackPolicy a stream names, as read from the API (playback_policies.py: what is done with it,
pure)."""

from __future__ import annotations

from pydantic import ValidationError

from streamops.api import LiveStream
from streamops.api.common import LocalObjectRef
from streamops.api.kinds import PLAYBACK_POLICY
from streamops.api.playback_policy import PlaybackRules
from streamops.control.shared.playback_policies import PolicyLookup, policy_ref
from streamops.kube.reads import KubeReads


def read_playback_policy(api: KubeReads, stream: LiveStream) -> PolicyLookup | None:
    """The policy the stream names (None: it names none). From the operator's watch of the policies
    when it has one (KubeApi.watched), else a GET."""
    ref = policy_ref(stream)
    return None if ref is None else read_named_policy(api, stream.metadata.namespace or "", ref)


def read_named_policy(api: KubeReads, namespace: str, ref: LocalObjectRef) -> PolicyLookup:
    raw = api.get_custom(PLAYBACK_POLICY, namespace, ref.name)
    if raw is None or raw.get("metadata", {}).get("deletionTimestamp"):
        return PolicyLookup(ref, None)
    spec = dict(raw.get("spec") or {})
    spec.pop("description", None)
    try:
        rules = PlaybackRules.model_validate(spec)
    except ValidationError as e:  # a CRD older or newer than the operator: the policy's own status says more
        return PolicyLookup(ref, None, f"cannot be used ({e.errors()[0]['msg']})")
    return PolicyLookup(ref, rules)

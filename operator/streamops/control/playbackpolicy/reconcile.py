"""A playback policy's reconcile: nothing to make (its rules reach the servers through the streams
that name it); the spec parsed, so that status can say when the operator cannot use it."""

from __future__ import annotations

from streamops.api.kinds import PlaybackPolicy
from streamops.control.runtime.decisions import SpecOutcome
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Body


def reconcile_playback_policy(
    api: KubeApi, settings: OperatorSettings, body: Body, allocator: object = None, **_: object
) -> SpecOutcome:
    parsed = parse(PlaybackPolicy, body)
    return SpecOutcome(parsed.generation, invalid_spec=parsed.problem)

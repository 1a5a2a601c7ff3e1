"""A broadcast's reconcile: nothing to make (its streams' ingests serve its page, sent to them by their
own loops: livestream/player_settings.py); the spec parsed, so that status can say when the operator
cannot use it."""

from __future__ import annotations

from streamops.api import Broadcast
from streamops.control.runtime.decisions import SpecOutcome
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Body


def reconcile_broadcast(
    api: KubeApi, settings: OperatorSettings, body: Body, allocator: object = None, **_: object
) -> SpecOutcome:
    parsed = parse(Broadcast, body)
    return SpecOutcome(parsed.generation, invalid_spec=parsed.problem)

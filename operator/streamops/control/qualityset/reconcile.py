"""A quality set's reconcile: nothing to make (the streams that name it read it when they build
their ingests, control/shared/quality_sets.py); the spec parsed, so that status can say when the
operator cannot use it."""

from __future__ import annotations

from streamops.api import QualitySet
from streamops.control.runtime.decisions import SpecOutcome
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Body


def reconcile_quality_set(
    api: KubeApi, settings: OperatorSettings, body: Body, allocator: object = None, **_: object
) -> SpecOutcome:
    """A QualitySet's or a ClusterQualitySet's (one model: they differ in scope only)."""
    parsed = parse(QualitySet, body)
    return SpecOutcome(parsed.generation, invalid_spec=parsed.problem)

"""The ClusterQualitySet the operator keeps (chart value qualitySets.default): created when it is
missing, at start and when it is deleted; never updated nor deleted, so an admin's edit stays (the
addon manager's EnsureExists mode). Why the operator and not a template of the chart:
docs/design/quality-sets.md."""

from __future__ import annotations

from streamops.api import API_VERSION, CLUSTER_QUALITY_SET
from streamops.control.shared.settings import OperatorSettings
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Manifest
from streamops.kube.naming import MANAGED_BY, MANAGED_BY_LABEL

DESCRIPTION = "H.264 ladder for most streams, kept by the streamops operator (chart value qualitySets.default)"


def default_quality_set(settings: OperatorSettings) -> Manifest | None:
    """The set as the operator creates it; None when the chart disables it."""
    wanted = settings.default_quality_set
    if wanted is None:
        return None
    return {
        "apiVersion": API_VERSION,
        "kind": CLUSTER_QUALITY_SET.kind,
        "metadata": {"name": wanted.name, "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
        "spec": {"description": DESCRIPTION, "renditions": [r.wire() for r in wanted.renditions]},
    }


def ensure_default_quality_set(api: KubeApi, settings: OperatorSettings) -> bool:
    """Create it unless it exists (a create refused with 409 leaves it as it is). True when created."""
    manifest = default_quality_set(settings)
    return manifest is not None and api.create_custom(CLUSTER_QUALITY_SET, manifest) is not None

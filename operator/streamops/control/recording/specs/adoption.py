"""The patch that hands a stream's warm recorder to a Recording."""

from __future__ import annotations

from streamops.api import Recording
from streamops.control.storage.recorder_pod import RECORDER_COMPONENT
from streamops.kube.manifests import Manifest
from streamops.kube.naming import ADOPTED_ANNOTATION, COMPONENT_LABEL, RECORDING_LABEL, label_value, owner_reference


def adoption_patch(recording: Recording) -> Manifest:
    """Hands a standby recorder to a Recording: its controller and component change, so the
    stream's next reconcile starts another standby and the Recording's status loop finds this one.
    The annotation tells `ensure_pod()` not to roll it for its (standby) spec hash."""
    name, uid = recording.metadata.name, recording.metadata.uid
    assert uid
    return {
        "metadata": {
            "ownerReferences": [owner_reference("Recording", name, uid)],
            "labels": {COMPONENT_LABEL: RECORDER_COMPONENT, RECORDING_LABEL: label_value(name)},
            "annotations": {ADOPTED_ANNOTATION: name},
        }
    }

"""The namespace's shared recordings claim, created when a worker that writes to it is about to run
(recordings_claim.py: what it is, pure)."""

from __future__ import annotations

from streamops.api.recording import RecordingStorage
from streamops.control.shared.settings import RecordingsSettings
from streamops.control.storage.recordings_claim import on_default_claim, recordings_claim
from streamops.kube.client import KubeApi


def ensure_recordings_claim(
    api: KubeApi, namespace: str, storage: RecordingStorage, recordings: RecordingsSettings
) -> None:
    """The namespace's shared claim, created before the first worker that writes to it (a
    Recording's recorder, a Clip's clipper); a claim the storage names is the user's to create."""
    if on_default_claim(storage, recordings) and api.get("PersistentVolumeClaim", namespace, recordings.claim) is None:
        api.create(recordings_claim(namespace, recordings))

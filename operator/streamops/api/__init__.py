"""API types (group streaming.streamops.dev, version v1alpha1)."""

from streamops.api.common import API_VERSION, GROUP, VERSION, Condition, SecretKeyRef
from streamops.api.kinds import KINDS, LIVESTREAM, RECORDING, RESTREAM, LiveStream, Recording, Restream
from streamops.api.livestream import LiveStreamSpec, LiveStreamStatus
from streamops.api.recording import RecordingSpec, RecordingStatus
from streamops.api.restream import RestreamSpec, RestreamStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "LIVESTREAM",
    "RECORDING",
    "RESTREAM",
    "VERSION",
    "Condition",
    "LiveStream",
    "LiveStreamSpec",
    "LiveStreamStatus",
    "Recording",
    "RecordingSpec",
    "RecordingStatus",
    "Restream",
    "RestreamSpec",
    "RestreamStatus",
    "SecretKeyRef",
]

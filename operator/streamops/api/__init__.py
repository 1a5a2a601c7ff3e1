"""API types (group streaming.streamops.dev, version v1alpha1).

The names below are loaded on first use (PEP 562): a worker process imports `streamops.api.common`
or one model module through `streamops.contract` without building every CRD model (≈0.2 s and
≈9 MiB of RSS measured with `python -X importtime` and smaps_rollup, issue 15)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamops.api.clip import ClipSpec, ClipStatus
    from streamops.api.common import API_VERSION, GROUP, VERSION, Condition, SecretKeyRef
    from streamops.api.kinds import (
        BROADCAST,
        CLIP,
        CLUSTER_QUALITY_SET,
        KINDS,
        LIVESTREAM,
        QUALITY_SET,
        RECORDING,
        RESTREAM,
        STREAM_WEBHOOK,
        Clip,
        ClusterQualitySet,
        LiveStream,
        QualitySet,
        Recording,
        Restream,
        StreamWebhook,
    )
    from streamops.api.kinds import Broadcast as Broadcast
    from streamops.api.livestream import LiveStreamSpec, LiveStreamStatus
    from streamops.api.recording import RecordingSpec, RecordingStatus
    from streamops.api.restream import RestreamSpec, RestreamStatus

_MODULE_OF = {
    "API_VERSION": "common",
    "GROUP": "common",
    "VERSION": "common",
    "Condition": "common",
    "SecretKeyRef": "common",
    "BROADCAST": "kinds",
    "Broadcast": "kinds",
    "CLIP": "kinds",
    "CLUSTER_QUALITY_SET": "kinds",
    "QUALITY_SET": "kinds",
    "ClusterQualitySet": "kinds",
    "QualitySet": "kinds",
    "Clip": "kinds",
    "ClipSpec": "clip",
    "ClipStatus": "clip",
    "KINDS": "kinds",
    "LIVESTREAM": "kinds",
    "RECORDING": "kinds",
    "RESTREAM": "kinds",
    "STREAM_WEBHOOK": "kinds",
    "StreamWebhook": "kinds",
    "LiveStream": "kinds",
    "Recording": "kinds",
    "Restream": "kinds",
    "LiveStreamSpec": "livestream",
    "LiveStreamStatus": "livestream",
    "RecordingSpec": "recording",
    "RecordingStatus": "recording",
    "RestreamSpec": "restream",
    "RestreamStatus": "restream",
}

__all__ = [
    "API_VERSION",
    "BROADCAST",
    "CLIP",
    "CLUSTER_QUALITY_SET",
    "GROUP",
    "KINDS",
    "LIVESTREAM",
    "QUALITY_SET",
    "RECORDING",
    "RESTREAM",
    "STREAM_WEBHOOK",
    "VERSION",
    "Broadcast",
    "Clip",
    "ClipSpec",
    "ClipStatus",
    "ClusterQualitySet",
    "Condition",
    "LiveStream",
    "LiveStreamSpec",
    "LiveStreamStatus",
    "QualitySet",
    "Recording",
    "RecordingSpec",
    "RecordingStatus",
    "Restream",
    "RestreamSpec",
    "RestreamStatus",
    "SecretKeyRef",
    "StreamWebhook",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value  # once: later lookups do not come here
    return value

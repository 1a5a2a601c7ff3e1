"""The names and labels of a Clip's clipper Pod."""

from __future__ import annotations

from streamops.kube.naming import child_name

CLIPPER_COMPONENT = "clipper"
CLIP_LABEL = "streaming.streamops.dev/clip"


def clipper_pod_name(clip_name: str) -> str:
    return child_name(clip_name, "clipper")

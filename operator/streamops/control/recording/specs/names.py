"""The names of a Recording's children."""

from __future__ import annotations

from streamops.kube.naming import child_name


def recorder_pod_name(recording_name: str) -> str:
    return child_name(recording_name, "recorder")

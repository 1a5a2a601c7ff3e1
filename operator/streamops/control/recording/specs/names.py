"""The names of a Recording's children."""

from __future__ import annotations

from streamops.kube.naming import child_name


def recorder_pod_name(recording_name: str) -> str:
    return child_name(recording_name, "recorder")


def recorder_slots(recording_name: str) -> tuple[str, str]:
    """The Recording's two recorder Pod names, used in turn by handovers (docs/design/handover.md, Part 5)."""
    return recorder_pod_name(recording_name), child_name(recording_name, "recorder-b")

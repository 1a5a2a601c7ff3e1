"""The names of a Restream's children."""

from __future__ import annotations

from streamops.kube.naming import child_name

PUSHER_COMPONENT = "pusher"


def shared_pusher_pod_name(stream_name: str) -> str:
    """The stream's one pusher Pod, which every Restream of the stream pushes through."""
    return child_name(stream_name, "pusher")


def pusher_slots(stream_name: str) -> tuple[str, str]:
    """The stream's two pusher Pod names, used in turn by handovers (docs/design/handover.md, Part 5)."""
    return shared_pusher_pod_name(stream_name), child_name(stream_name, "pusher-b")


def pusher_pod_name(restream_name: str) -> str:
    """A Restream's own pusher Pod, as an operator before the shared pusher made it: removed once
    its Restream is reconciled (docs/design/shared-pusher.md, "Upgrade")."""
    return child_name(restream_name, "pusher")

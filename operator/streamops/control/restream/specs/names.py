"""The names of a Restream's children."""

from __future__ import annotations

from streamops.kube.naming import child_name

PUSHER_COMPONENT = "pusher"


def pusher_pod_name(restream_name: str) -> str:
    return child_name(restream_name, "pusher")

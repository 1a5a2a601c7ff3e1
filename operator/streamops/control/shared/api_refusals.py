"""The API server refusing what a spec asks for (bad value, forbidden by policy, API not served): said
in status (Stalled, or the child's own reason) instead of retried as if it were a transient failure."""

from __future__ import annotations

import json

from streamops.kube.client import ApiError

REFUSALS = frozenset({400, 403, 404, 422})


def refusal(error: ApiError) -> str:
    """The server's message (a Status object's `message`), bounded. The manifests whose refusals are
    said (Services, routes, the edge) hold no key material, so nothing secret can be echoed."""
    try:
        message = str(json.loads(error.body).get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    return (message or error.body or f"HTTP {error.status}")[:800]

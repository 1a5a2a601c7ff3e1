"""The webhook wire contract (docs/design/webhooks.md): events are CloudEvents 1.0 in structured mode
(`application/cloudevents+json`), signed as Standard Webhooks sign (standardwebhooks.com): headers
`webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256(secret,
"<id>.<timestamp>.<body>")>`, one signature per secret while a secret is being rotated, separated by
spaces. Receivers may import `verify()` from here; it is also what the tests use."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

TYPE_PREFIX = "dev.streamops."
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
SPEC_VERSION = "1.0"
# A receiver should refuse a timestamp further than this from its clock (replays).
TOLERANCE_SECONDS = 300


def cloud_event(
    *, id: str, type: str, source: str, subject: str, time: datetime, sequence: int, data: Mapping[str, Any]
) -> dict[str, Any]:
    """One event in structured mode. `sequence` (an extension attribute, a decimal string as the
    CloudEvents sequence extension has it) counts per stream from 1: a receiver drops an event whose
    sequence it has seen for that stream (`source`), and may see a gap only if events expired."""
    return {
        "specversion": SPEC_VERSION,
        "id": id,
        "type": TYPE_PREFIX + type,
        "source": source,
        "subject": subject,
        "time": time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "sequence": str(sequence),
        "data": dict(data),
    }


def body_of(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


def _signature(secret: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(event_id: str, timestamp: int, body: bytes, secrets: Sequence[bytes]) -> dict[str, str]:
    """The request's headers: one signature per secret (the current first, then the previous)."""
    return {
        "Content-Type": CONTENT_TYPE,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(_signature(s, event_id, timestamp, body) for s in secrets),
    }


def verify(
    headers: Mapping[str, str], body: bytes, secret: bytes, now: float | None = None, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """True when one of the request's signatures is `secret`'s over its id, timestamp and body, and
    the timestamp is within `tolerance` seconds of `now`."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        event_id = lower["webhook-id"]
        timestamp = int(lower["webhook-timestamp"])
        offered = lower["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _signature(secret, event_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)

"""Who may publish over WHIP, pure: the stream takes WHIP at all (403), the bearer token is the
stream key (401, RFC 9725; compared in constant time), and nobody else is live on the key (409: one
publisher at a time, whatever the protocol). No answer ever holds the key or the token given.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from streamops.contract.ingest import IngestConfig

# Metric label values of streamops_ingest_whip_refused_total{reason}.
NOT_WHIP = "not_whip"
UNAUTHORIZED = "unauthorized"
BUSY = "busy"
OFFER = "offer"  # the component refused the offer (400, 406, 415)
UNAVAILABLE = "unavailable"  # the component does not run


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


NOT_WHIP_MESSAGE = "this stream does not take WHIP (source.push.protocols has no whip)"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), else None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def not_whip(config: IngestConfig) -> Refusal | None:
    """403 when this ingest takes no WHIP publisher: a pull stream, a backup ingest (publishers go
    to the primary), or push protocols without whip."""
    push = config.source.push
    if push is None:
        return Refusal(403, NOT_WHIP, "this stream does not take WHIP (it pulls its source)")
    if config.role != "primary":
        return Refusal(403, NOT_WHIP, "this is the backup ingest: WHIP publishers go to the primary ingest")
    if "whip" not in push.protocols or config.webrtc is None:
        return Refusal(403, NOT_WHIP, NOT_WHIP_MESSAGE)
    return None


def unauthorized(authorization: str | None, key: bytes | None) -> Refusal | None:
    """401 unless the bearer token is the stream key. No key mounted: nobody is let in."""
    token = bearer_token(authorization)
    if token is not None and key is not None and hmac.compare_digest(token.encode(), key):
        return None
    message = "the stream key is needed as the bearer token (Authorization: Bearer <stream key>)"
    if token is not None:
        message = "the bearer token is not this stream's key"
    return Refusal(401, UNAUTHORIZED, message, {"WWW-Authenticate": 'Bearer realm="whip"'})


def busy(live_kind: str | None) -> Refusal | None:
    """409 while a publisher's media flows (`live_kind`: its protocol). A silent one is displaced."""
    if live_kind is None:
        return None
    return Refusal(409, BUSY, f"another publisher ({live_kind}) is live on this stream key: one publisher at a time")


def whip_refusal(
    config: IngestConfig, authorization: str | None, key: bytes | None, live_kind: str | None
) -> Refusal | None:
    """Why a WHIP offer is refused before it reaches the component, or None."""
    return not_whip(config) or unauthorized(authorization, key) or busy(live_kind)

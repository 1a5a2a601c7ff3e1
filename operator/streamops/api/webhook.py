"""StreamWebhook: a subscription of an HTTP receiver to the events of a namespace's streams, sent as
CloudEvents 1.0 (structured JSON), signed, at least once, in order per stream (docs/design/webhooks.md)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from streamops.api.common import (
    NAME_MAX,
    URL_MAX,
    Condition,
    ConditionedStatus,
    KubeModel,
    conditions_field,
    matches,
    validations,
)

# The event types, as the `type` attribute's suffix after "dev.streamops." (the contract:
# streamops.contract.webhook_event).
EventType = Literal[
    "stream.active",
    "stream.idle",
    "stream.backup_active",
    "stream.primary_restored",
    "recording.started",
    "recording.stopped",
    "recording.video_ready",
    "recording.upload_failing",
    "recording.no_space",
    "restream.connected",
    "restream.failing",
    "restream.recovered",
    "clip.ready",
    "clip.failed",
    "broadcast.live",
    "broadcast.switched",
    "broadcast.paused",
    "broadcast.finished",
    "broadcast.pending",
]
HTTP_ONLY = "url must start with http:// or https://"
WEBHOOK_USERINFO_PATTERN = "^https?://[^/?#]*@"
NO_WEBHOOK_USERINFO = "url must not carry credentials (user@)"
EventFilter = Literal[
    EventType, "stream.*", "recording.*", "restream.*", "clip.*", "broadcast.*"
]  # a type, or every type of a kind


class LabelSelectorRequirement(KubeModel):
    key: str = Field(min_length=1, max_length=NAME_MAX, description="The label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(description="In, NotIn, Exists, DoesNotExist.")
    values: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Values for In and NotIn (non-empty); empty for Exists and DoesNotExist.",
    )


class LabelSelector(KubeModel):
    """A Kubernetes label selector over the LiveStreams' labels; empty selects every stream."""

    match_labels: dict[str, str] = Field(default_factory=dict, description="Labels a stream must carry.")
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, max_length=32, description="Requirements a stream's labels must meet (all of them)."
    )


class WebhookSecretRef(KubeModel):
    """The Secret holding the signing secret."""

    name: str = Field(min_length=1, max_length=NAME_MAX, description="Name of the Secret (same namespace).")
    key: str = Field(
        default="secret",
        min_length=1,
        max_length=NAME_MAX,
        description="Key of the current secret. Default secret. While rotating, the key `previous` in the same "
        "Secret (when present) holds the old one: each request then carries a signature made with each.",
    )


class StreamWebhookSpec(KubeModel):
    """Where to send which events of which streams."""

    url: str = Field(
        min_length=8,
        max_length=URL_MAX,
        description="The receiver: an http:// or https:// URL; events are POSTed to it.",
        json_schema_extra=validations(
            {"rule": "self.startsWith('http://') || self.startsWith('https://')", "message": HTTP_ONLY},
            {"rule": f"!{matches(WEBHOOK_USERINFO_PATTERN)}", "message": NO_WEBHOOK_USERINFO},
        ),
    )
    secret_ref: WebhookSecretRef = Field(
        description="The Secret with the HMAC-SHA256 signing secret (key `secret`, and `previous` while rotating). "
        "Signatures follow Standard Webhooks: header webhook-signature `v1,<base64 HMAC of id.timestamp.body>`. "
        "The Secret must be labelled streaming.streamops.dev/allow-reference=true, else nothing is sent."
    )
    events: list[EventFilter] = Field(
        default_factory=list,
        max_length=16,
        description="Which event types to send (e.g. stream.active, recording.*); empty sends all.",
    )
    stream_selector: LabelSelector | None = Field(
        default=None, description="Which LiveStreams (by label) of the namespace; unset selects all of them."
    )
    active: bool = Field(
        default=True,
        description="false pauses deliveries: events are still kept (up to 24 h) and sent once it is true again.",
    )
    timeout_seconds: int = Field(
        default=10, ge=1, le=60, description="How long one delivery may take before it counts as failed. Default 10."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(HTTP_ONLY)
        # The authority ends at the first /, ? or #: an @ in a query or fragment is no user.
        if re.match(WEBHOOK_USERINFO_PATTERN, url):
            raise ValueError(NO_WEBHOOK_USERINFO)
        return url


class Delivery(KubeModel):
    """One delivery attempt."""

    at: datetime = Field(description="When the attempt ended.")
    event_id: str = Field(max_length=512, description="The CloudEvent id.")
    type: str = Field(max_length=128, description="The CloudEvent type.")
    http_status: int | None = Field(default=None, description="The receiver's HTTP status; unset when none came.")
    duration_ms: int = Field(ge=0, description="How long the attempt took.")
    error: str | None = Field(default=None, max_length=1024, description="Why it failed (never the secret).")


class StreamWebhookStatus(ConditionedStatus):
    """Observed state of the subscription, written by the operator."""

    conditions: list[Condition] = conditions_field(
        "Ready (True while deliveries succeed or nothing waits; False with DeliveryFailing, SecretNotFound, "
        "RefusedByPolicy or Paused); Stalled (RefusedByPolicy: the Secret lacks its opt-in label) appears only "
        "while true."
    )
    last_delivery: Delivery | None = Field(default=None, description="The last event the receiver accepted.")
    last_failure: Delivery | None = Field(default=None, description="The last failed attempt.")
    consecutive_failures: int = Field(default=0, ge=0, description="Failed attempts since the last delivery.")
    backlog: int = Field(default=0, ge=0, description="Events waiting to be delivered.")
    oldest_pending_at: datetime | None = Field(
        default=None, description="When the oldest waiting event was recorded (it is dropped after 24 h)."
    )
    delivered: int = Field(
        default=0, ge=0, description="Events the receiver accepted (counted over the subscription's life)."
    )
    expired: int = Field(
        default=0, ge=0, description="Events dropped undelivered after 24 h (or beyond the backlog bound)."
    )

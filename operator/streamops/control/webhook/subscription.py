"""A StreamWebhook as the notifier uses it (pure): which streams and event types it wants, whether
its signing Secret may be used (the tenancy policy's opt-in label), and its status and Events from
what its delivery task saw."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from streamops.api.common import Condition
from streamops.api.webhook import LabelSelector, StreamWebhookSpec
from streamops.control.shared.conditions import (
    READY,
    REFUSED_BY_POLICY,
    STALLED,
    Observed,
    Transition,
    merge_conditions,
)
from streamops.control.shared.settings import TenancySettings
from streamops.control.shared.tenancy import secret_reference_refusal
from streamops.kube.manifests import Body

# Warning Event and Ready False once this many attempts in a row failed (≈1 min with the backoff).
FAILING_AFTER = 5


@dataclass(frozen=True)
class Subscription:
    uid: str
    namespace: str
    name: str
    generation: int
    spec: StreamWebhookSpec

    def selects(self, labels: Mapping[str, str]) -> bool:
        return selector_matches(self.spec.stream_selector, labels)

    def wants(self, event_type: str) -> bool:
        wanted = self.spec.events
        return not wanted or event_type in wanted or f"{event_type.split('.')[0]}.*" in wanted


def subscription_of(body: Mapping[str, Any]) -> Subscription | None:
    """None when the object's spec is not valid (the CRD's schema makes that rare)."""
    meta = body.get("metadata") or {}
    try:
        spec = StreamWebhookSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return None
    return Subscription(
        uid=str(meta.get("uid") or ""),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        generation=int(meta.get("generation") or 0),
        spec=spec,
    )


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for r in selector.match_expressions:
        present = r.key in labels
        if r.operator == "Exists" and not present:
            return False
        if r.operator == "DoesNotExist" and present:
            return False
        if r.operator == "In" and labels.get(r.key) not in r.values:
            return False
        if r.operator == "NotIn" and present and labels[r.key] in r.values:
            return False
    return True


@dataclass
class DeliveryRecord:
    """What a subscription's delivery task observed (the input of its status)."""

    delivered: int = 0
    expired: int = 0
    consecutive_failures: int = 0
    backlog: int = 0
    oldest_pending_at: datetime | None = None
    last_delivery: dict[str, Any] | None = None
    last_failure: dict[str, Any] | None = None
    secret_missing: bool = False
    secret_refused: str | None = None  # why the tenancy policy refuses the signing Secret (nothing is sent)


def secret_refusal(sub: Subscription, secret: Body | None, tenancy: TenancySettings) -> str | None:
    """The signing Secret must carry the opt-in label (docs/design/tenancy.md): a subscription's
    author could otherwise name any key of any Secret of the namespace, and the receiver they choose
    would get HMACs keyed with it over bodies it knows (enough to test guesses of the value offline,
    or to forge what another service checks with the same key). None: it may be used, or it does
    not exist (secret_missing says that)."""
    return secret_reference_refusal("spec.secretRef", sub.spec.secret_ref.name, secret, tenancy)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def subscription_conditions(sub: Subscription, record: DeliveryRecord) -> list[Observed]:
    """Ready, and Stalled while the policy refuses the Secret (what only its owner can change)."""
    if sub.spec.active and record.secret_refused:
        message = f"{record.secret_refused}: nothing is sent, events are kept (24 h)"
        return [
            Observed(READY, "False", REFUSED_BY_POLICY, message),
            Observed(STALLED, "True", REFUSED_BY_POLICY, message),
        ]
    return [subscription_ready(sub, record)]


def subscription_ready(sub: Subscription, record: DeliveryRecord) -> Observed:
    if not sub.spec.active:
        return Observed(READY, "False", "Paused", "spec.active is false: events are kept (24 h), not sent")
    if record.secret_missing:
        ref = sub.spec.secret_ref
        return Observed(
            READY, "False", "SecretNotFound", f"Secret {ref.name} (key {ref.key}) not found: nothing is sent"
        )
    if record.consecutive_failures >= FAILING_AFTER:
        error = (record.last_failure or {}).get("error") or "failing"
        return Observed(
            READY,
            "False",
            "DeliveryFailing",
            f"{record.consecutive_failures} attempts in a row failed ({error}); retrying with backoff",
        )
    return Observed(READY, "True", "Delivering", "events are delivered as they happen")


def subscription_status(
    sub: Subscription, record: DeliveryRecord, previous: list[Condition], now: datetime
) -> dict[str, Any]:
    """The status (wire form) for `sub`: one merge patch, written by its delivery task alone."""
    conditions = merge_conditions(previous, subscription_conditions(sub, record), sub.generation, now)
    return {
        "observedGeneration": sub.generation,
        "conditions": [c.wire() for c in conditions],
        "consecutiveFailures": record.consecutive_failures,
        "backlog": record.backlog,
        "oldestPendingAt": _iso(record.oldest_pending_at),
        "delivered": record.delivered,
        "expired": record.expired,
        "lastDelivery": record.last_delivery,
        "lastFailure": record.last_failure,
    }


def subscription_events(previous: list[Condition], current: list[Condition]) -> list[Transition]:
    """One Warning when Stalled turns True (the Secret refused). Delivery failures and recoveries
    have their own Events (delivery.py), so Ready's transitions post none here."""
    stalled_before = any(c.type == STALLED and c.status == "True" for c in previous)
    return [
        Transition("Warning", c.reason, c.message or c.reason)
        for c in current
        if c.type == STALLED and c.status == "True" and not stalled_before
    ]

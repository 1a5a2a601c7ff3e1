"""A StreamWebhook as a subscription (control/webhook/subscription.py): its event filters and stream
selector."""

from __future__ import annotations

from streamops.api.webhook import StreamWebhookSpec
from streamops.control.webhook.subscription import Subscription, selector_matches


def test_subscription_filters_and_selectors() -> None:
    spec = StreamWebhookSpec.model_validate(
        {
            "url": "http://receiver/x",
            "secretRef": {"name": "s"},
            "events": ["recording.*", "stream.active"],
            "streamSelector": {"matchLabels": {"tier": "gold"}},
        }
    )
    sub = Subscription("u", "ns", "w", 1, spec)
    assert sub.wants("recording.video_ready") and sub.wants("stream.active") and not sub.wants("stream.idle")
    assert sub.selects({"tier": "gold"}) and not sub.selects({})
    assert selector_matches(spec.stream_selector.model_copy(update={"match_labels": {}, "match_expressions": []}), {})

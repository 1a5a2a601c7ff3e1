"""The StreamWebhook's spec model (api/webhook.py): its defaults, the URLs it refuses, the event filters
it takes. That each Python rule says what its CEL twin says at admission: test_crd_cel_parity.py."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError
from streamops.api.webhook import HTTP_ONLY, NO_WEBHOOK_USERINFO, StreamWebhookSpec, StreamWebhookStatus

SECRET = {"secretRef": {"name": "hook"}}


def test_defaults_send_every_event_of_every_stream_signed_with_the_key_secret():
    spec = StreamWebhookSpec.model_validate({**SECRET, "url": "https://receiver.example/hook"})
    assert (spec.events, spec.stream_selector, spec.active, spec.timeout_seconds) == ([], None, True, 10)
    assert spec.secret_ref.key == "secret"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://receiver.example/x", HTTP_ONLY),
        ("https://user:pw@receiver.example/x", NO_WEBHOOK_USERINFO),
        ("http://user@receiver.example/", NO_WEBHOOK_USERINFO),
    ],
)
def test_urls_refused(url, says):
    with pytest.raises(ValidationError, match=re.escape(says)):
        StreamWebhookSpec.model_validate({**SECRET, "url": url})


def test_an_at_sign_after_the_authority_is_no_user():
    for url in ("https://receiver.example/x?by=a@b", "https://receiver.example/x#a@b", "http://h/p@q"):
        assert StreamWebhookSpec.model_validate({**SECRET, "url": url}).url == url


def test_event_filters_are_types_or_a_kinds_wildcard_and_the_timeout_is_bounded():
    spec = StreamWebhookSpec.model_validate(
        {**SECRET, "url": "http://r/x", "events": ["recording.*", "stream.active"], "timeoutSeconds": 60}
    )
    assert spec.events == ["recording.*", "stream.active"]
    for bad in ({"events": ["stream.exploded"]}, {"events": ["*"]}, {"timeoutSeconds": 0}, {"timeoutSeconds": 61}):
        with pytest.raises(ValidationError):
            StreamWebhookSpec.model_validate({**SECRET, "url": "http://r/x", **bad})
    status = StreamWebhookStatus()
    assert (status.backlog, status.delivered, status.consecutive_failures, status.last_delivery) == (0, 0, 0, None)

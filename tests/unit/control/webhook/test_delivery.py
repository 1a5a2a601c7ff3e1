"""Delivery to a receiver, the pure parts (control/webhook/delivery.py): the signatures it sends, the
backoff, the secrets it signs with. Its HTTP behind the egress guard is tests/unit/egress/test_policy.py."""

from __future__ import annotations

import time

from streamops.contract.webhook_event import body_of, signed_headers, verify
from streamops.control.shared.settings import OperatorSettings
from streamops.control.webhook.delivery import backoff_seconds, secrets_of

EVENT = {"id": "uid-1", "sequence": "1", "type": "dev.streamops.stream.active", "data": {"live": True}}


def test_signatures_verify_rotate_and_expire() -> None:
    event = EVENT
    body = body_of(event)
    now = int(time.time())
    headers = signed_headers(event["id"], now, body, [b"new", b"old"])
    assert verify(headers, body, b"new") and verify(headers, body, b"old")
    assert not verify(headers, body, b"wrong")
    assert not verify(headers, body + b" ", b"new")
    assert not verify(headers, body, b"new", now=now + 301)
    assert not verify({**headers, "webhook-id": "other"}, body, b"new")


def test_backoff_and_secrets() -> None:
    cap = OperatorSettings().webhooks.backoff_cap_seconds
    assert cap == 30.0, "the default cap: a receiver back after 60 s gets its backlog within 30 s"
    assert backoff_seconds(1, 0.5, cap) == 1.0 and backoff_seconds(3, 0.5, cap) == 4.0
    assert backoff_seconds(20, 0.5, cap) == 30.0
    assert [backoff_seconds(n, 0.5, 2.0) for n in (1, 2, 3, 20)] == [1.0, 2.0, 2.0, 2.0]  # a short cap
    assert OperatorSettings.from_env({"STREAMOPS_WEBHOOK_BACKOFF_CAP_SECONDS": "2"}).webhooks.backoff_cap_seconds == 2
    assert secrets_of({"data": {"secret": "bmV3", "previous": "b2xk"}}, "secret") == [b"new", b"old"]
    assert secrets_of({"data": {}}, "secret") is None and secrets_of(None, "secret") is None

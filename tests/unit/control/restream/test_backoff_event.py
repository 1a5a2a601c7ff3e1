"""The RestreamBackoff Warning aggregated per failure streak (control/restream/backoff_event.py):
the streak from the pusher's telemetry, the Event's name, body and update, and when to write (the
writes themselves: test_backoff_writes.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from streamops.contract.pusher import PusherStatus
from streamops.control.restream import backoff_event as B

T0 = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 8, 3, 30, tzinfo=UTC)
REF = B.RestreamRef("media", "to-youtube", "9d1c6c1e-0000-4000-8000-000000000001")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def telemetry(**fields) -> PusherStatus:
    return PusherStatus.model_validate({"live": False, "state": "backoff", **fields})


def streak(failures: int = 3, since: datetime = T0, error: str = "rtmp://yt/live2/***: Connection refused"):
    return B.FailureStreak(since, failures, error)


def test_the_streak_comes_from_the_pushers_telemetry():
    assert B.FailureStreak.of(None) is None
    assert B.FailureStreak.of(telemetry(failures=0)) is None
    s = B.FailureStreak.of(telemetry(failures=4, failingSince="2026-11-22T08:00:00Z", lastError="refused"))
    assert s == B.FailureStreak(T0, 4, "refused")


def test_one_name_per_streak_stable_across_operator_restarts():
    name = B.event_name(REF, T0)
    assert name == B.event_name(REF, T0) and name.startswith("to-youtube.") and DNS_SUBDOMAIN.match(name)
    assert B.event_name(REF, T1) != name, "a new streak is a new Event"
    other = B.RestreamRef("media", "to-youtube", "9d1c6c1e-0000-4000-8000-000000000002")
    assert B.event_name(other, T0) != name, "a re-created Restream of the same name"
    long = B.RestreamRef("media", "a" * 240 + "-" + "b" * 12, REF.uid)
    assert len(B.event_name(long, T0)) <= 253 and DNS_SUBDOMAIN.match(B.event_name(long, T0))


def test_the_event_as_created_and_updated():
    event = B.backoff_event(REF, streak(failures=3), T1)
    assert event["metadata"] == {"name": B.event_name(REF, T0), "namespace": "media"}
    assert event["involvedObject"] == {
        "apiVersion": "streaming.streamops.dev/v1alpha1",
        "kind": "Restream",
        "name": "to-youtube",
        "namespace": "media",
        "uid": REF.uid,
    }
    assert (event["type"], event["reason"], event["count"]) == ("Warning", "RestreamBackoff", 3)
    assert (event["firstTimestamp"], event["lastTimestamp"]) == ("2026-11-22T08:00:00Z", "2026-11-22T08:03:30Z")
    # (the second redaction net takes the whole last path segment, the colon too)
    assert event["message"] == "the target failed, retrying with backoff: rtmp://yt/live2/*** Connection refused"
    assert B.backoff_event_update(streak(failures=9), T1) == {
        "count": 9,
        "lastTimestamp": "2026-11-22T08:03:30Z",
        "message": event["message"],
    }


def test_credentials_never_reach_the_event():
    leaky = streak(error="rtmps://user:pw@live.example/app/sk-123?key=abc: I/O error")
    text = str(B.backoff_event(REF, leaky, T1)) + str(B.backoff_event_update(leaky, T1))
    assert not any(secret in text for secret in ("user:pw", "sk-123", "abc"))
    assert len(B.backoff_message(streak(error="x" * 5000))) == B.MESSAGE_MAX


def test_create_once_per_streak_then_update_at_most_every_period():
    written = B.WrittenSeries()
    name = B.event_name(REF, T0)
    assert B.next_write(written, name, streak(1), now=100.0, every=10) == "create"
    written = B.WrittenSeries(name, 1, 100.0)
    assert B.next_write(written, name, streak(1), now=130.0, every=10) is None, "nothing new"
    assert B.next_write(written, name, streak(2), now=105.0, every=10) is None, "new failure, too soon"
    assert B.next_write(written, name, streak(2), now=110.0, every=10) == "update"
    assert B.next_write(written, B.event_name(REF, T1), streak(1, T1), now=111.0, every=10) == "create"


def test_an_hour_of_a_dead_target_is_one_event_and_few_writes():
    """≈600 failures in an hour (one every 6 s), the loop looking every 0.5 s: one create, and an
    update at most every 10 s (the metrics period), not one write per failure."""
    written, name, writes = B.WrittenSeries(), B.event_name(REF, T0), []
    for tick in range(7200):
        now = tick * 0.5
        s = streak(failures=1 + int(now // 6))
        action = B.next_write(written, name, s, now, every=10)
        if action:
            writes.append(action)
            written = B.WrittenSeries(name, s.failures, now)
    assert writes.count("create") == 1 and writes.count("update") <= 360
    assert written.count >= 600 - 10 / 6, "the count written is at most one period behind the pusher's"

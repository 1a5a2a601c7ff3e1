"""A playback policy's status: Ready says which rules it has, or that rules naming countries cannot be
enforced without a GeoIP database (docs/design/playback-rules.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devtools.catalog import stored
from streamops.api.kinds import PlaybackPolicy
from streamops.control.playbackpolicy.status import playback_policy_status

T0 = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)


def policy(spec: dict[str, Any], generation: int = 2) -> PlaybackPolicy:
    body = {"apiVersion": "streaming.streamops.dev/v1alpha1", "kind": "PlaybackPolicy", "metadata": {"name": "p"}}
    return PlaybackPolicy.model_validate(stored({**body, "spec": spec}, generation=generation))


def test_ready_names_the_rules() -> None:
    status = playback_policy_status(
        policy({"deniedCIDRs": ["192.0.2.0/24"], "allowedUserAgents": ["VLC/*"]}), False, T0
    )
    [ready] = status.conditions
    assert (ready.status, ready.reason, ready.message) == ("True", "Accepted", "rules on address ranges, user agents")
    assert status.observed_generation == 2
    assert playback_policy_status(policy({}), False, T0).conditions[0].message == "no rule: every viewer plays"


def test_countries_without_a_geoip_database_are_not_ready() -> None:
    spec = {"deniedCountries": ["US", "FR"]}
    [ready] = playback_policy_status(policy(spec), False, T0).conditions
    assert (ready.status, ready.reason) == ("False", "GeoIPDatabaseMissing")
    assert "(US, FR)" in (ready.message or "") and "503 geoip_unavailable" in (ready.message or "")
    assert playback_policy_status(policy(spec), True, T0).conditions[0].status == "True"


def test_streams_counts_the_streams_that_name_it() -> None:
    assert playback_policy_status(policy({}), False, T0, users=3).streams == 3
    assert playback_policy_status(policy({}), False, T0).streams == 0

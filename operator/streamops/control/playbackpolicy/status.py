"""A playback policy's status, from its spec and whether a GeoIP database is there (pure)."""

from __future__ import annotations

from datetime import datetime

from streamops.api.kinds import PlaybackPolicy
from streamops.api.playback_policy import PlaybackPolicyStatus
from streamops.control.playbackpolicy import reasons
from streamops.control.shared.conditions import READY, Observed, merge_conditions


def playback_policy_status(policy: PlaybackPolicy, geoip: bool, now: datetime, users: int = 0) -> PlaybackPolicyStatus:
    """`geoip`: the operator has a GeoIP database to give the servers; `users`: the streams naming it."""
    previous = policy.status or PlaybackPolicyStatus()
    generation = policy.metadata.generation
    spec = policy.spec
    if spec.needs_geoip and not geoip:
        countries = spec.allowed_countries or spec.denied_countries or []
        ready = Observed(
            READY,
            "False",
            reasons.GEOIP_DATABASE_MISSING,
            f"the rules name countries ({', '.join(countries[:5])}{', …' if len(countries) > 5 else ''}) and the "
            "operator has no GeoIP database (MaxMind's format, mounted by the admin): a stream played under this "
            "policy refuses every viewer (503 geoip_unavailable) until one is there",
        )
    else:
        rules = [
            name
            for name, present in (
                ("referrers", spec.allowed_referrers),
                ("address ranges", spec.allowed_cidrs or spec.denied_cidrs),
                ("countries", spec.needs_geoip),
                ("user agents", spec.allowed_user_agents),
            )
            if present
        ]
        what = f"rules on {', '.join(rules)}" if rules else "no rule: every viewer plays"
        ready = Observed(READY, "True", reasons.ACCEPTED, what)
    return PlaybackPolicyStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, [ready], generation, now),
        streams=users,
    )

"""The PlaybackPolicy kind's model (api/playback_policy.py): what it accepts and refuses, and what its
CRD tells the API server to refuse at admission (docs/design/playback-rules.md)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from streamops.api.crd import crd_manifest
from streamops.api.kinds import PLAYBACK_POLICY
from streamops.api.playback_policy import COUNTRY_CODES, PlaybackRules


@pytest.mark.parametrize(
    "spec",
    [
        {"allowedCIDRs": ["10.0.0.1"]},  # no prefix: the CRD's format cidr (net.ParseCIDR) refuses it too
        {"deniedCIDRs": ["10.0.0.0/33"]},
        {"deniedCIDRs": ["2001:db8::/129"]},
        {"allowedCountries": ["UK"]},  # the code is GB
        {"deniedCountries": ["de"]},
        {"allowedReferrers": ["Example.com"], "allowNoReferrer": True},
        {"allowedReferrers": ["https://example.com"], "allowNoReferrer": True},
        {"allowedReferrers": ["a.*.example.com"], "allowNoReferrer": True},
        {"allowedReferrers": ["example.com"]},  # the no-referrer case left implicit
        {"allowedCountries": ["DE"], "deniedCountries": ["FR"]},
        {"allowedUserAgents": ["VLC\n"]},
        {"allowedUserAgents": ["x" * 257]},
        {"allowedCIDRs": ["10.0.0.0/8"] * 65},
        {"unknown": True},
    ],
)
def test_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PlaybackRules.model_validate(spec)


def test_accepted_and_what_it_needs() -> None:
    rules = PlaybackRules.model_validate(
        {
            "allowedCIDRs": ["10.0.0.1/8", "2001:db8::/32"],  # host bits set: as net.ParseCIDR takes it
            "deniedCountries": ["GB", "US"],
            "allowedReferrers": ["example.com", "*.example.com"],
            "allowNoReferrer": False,
            "allowedUserAgents": ["*Chrome/*", "Mozilla/5.0 (X11; Linux*"],
        }
    )
    assert rules.needs_geoip and not rules.empty
    assert rules.wire()["allowedCIDRs"] == ["10.0.0.1/8", "2001:db8::/32"]
    assert PlaybackRules().empty and not PlaybackRules().needs_geoip


def test_the_crd_refuses_bad_items_at_admission() -> None:
    spec = crd_manifest(PLAYBACK_POLICY)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props = spec["properties"]
    assert props["allowedCIDRs"]["items"]["format"] == props["deniedCIDRs"]["items"]["format"] == "cidr"
    assert props["allowedCountries"]["items"]["enum"] == list(COUNTRY_CODES) and len(COUNTRY_CODES) == 249
    assert "GB" in COUNTRY_CODES and "UK" not in COUNTRY_CODES
    assert props["allowedReferrers"]["items"]["pattern"].startswith("^(\\*\\.)?")
    assert len(spec["x-kubernetes-validations"]) == 2

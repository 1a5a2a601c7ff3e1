"""What the operator tells the ingest worker (contract/ingest.py): IngestConfig's JSON (a public stream's
left as it was), the listeners a protocol needs, trusted proxies as CIDRs, playback access and the
viewer window, the player settings' digest."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from streamops.contract.ingest import (
    PUBLISHER_TIMEOUT_SECONDS,
    VIEWER_WINDOW_SECONDS,
    IngestConfig,
    PlayerSettings,
)

BASE: dict[str, Any] = {"stream": "cam", "source": {"push": {}}, "publishOverHttp": True}
TLS = {"secretName": "tls"}


def test_a_public_stream_keeps_the_configuration_it_had():
    """No new key in the JSON of a stream without `playback`: its Pod's spec hash does not change."""
    assert "playback" not in IngestConfig.model_validate(BASE).to_json()
    config = IngestConfig.model_validate(BASE)
    assert (config.signed, config.stream_id, config.viewer_window) == (False, "cam", 30)


def test_a_signed_stream_needs_its_keys_and_is_named_with_its_namespace():
    with pytest.raises(ValueError, match="keysDir"):
        IngestConfig.model_validate({**BASE, "playback": {"namespace": "ns", "access": "signed"}})
    signed = {"namespace": "ns", "access": "signed", "keysDir": "/k", "viewerWindowSeconds": 2}
    config = IngestConfig.model_validate({**BASE, "playback": signed})
    assert (config.signed, config.stream_id, config.viewer_window) == (True, "ns/cam", 2)


def test_the_json_round_trips_and_an_unknown_field_is_refused():
    config = IngestConfig.model_validate(BASE)
    assert IngestConfig.model_validate_json(config.to_json()) == config
    assert (config.publisher_timeout, config.viewer_window) == (PUBLISHER_TIMEOUT_SECONDS, VIEWER_WINDOW_SECONDS)
    assert not config.dash_low_latency and config.source.push is not None
    assert config.source.push.protocols == ["rtmp", "srt"]
    with pytest.raises(ValidationError, match="newSetting"):
        IngestConfig.model_validate({**BASE, "newSetting": 1})


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (
            {"source": {"push": {"protocols": ["rtmps"], "tls": {"secretName": "tls"}}}},
            "rtmps needs ports.rtmps, tlsCert",
        ),
        ({"source": {"push": {"protocols": ["whip"]}}}, "whip needs webrtc"),
        ({"webrtc": {}}, "webrtc needs ports.webrtcUdp"),
        ({"trustedProxies": ["10.0.0.0/8", "not-a-cidr"]}, "not-a-cidr"),
    ],
)
def test_what_a_protocol_or_setting_needs(overrides, says):
    with pytest.raises(ValidationError, match=says):
        IngestConfig.model_validate({**BASE, **overrides})


def test_rtmps_with_its_listener_and_trusted_proxies_as_cidrs():
    rtmps = {
        "source": {"push": {"protocols": ["rtmp", "rtmps"], "tls": TLS}},
        "ports": {"rtmps": 1936},
        "tlsCertFile": "/tls/tls.crt",
        "tlsKeyFile": "/tls/tls.key",
        "trustedProxies": ["10.0.0.0/8", "2001:db8::/32"],
    }
    config = IngestConfig.model_validate({**BASE, **rtmps})
    assert config.ports.rtmps == 1936 and config.trusted_proxies == ["10.0.0.0/8", "2001:db8::/32"]


def test_the_player_settings_digest_changes_with_them():
    none = PlayerSettings()
    assert none.digest() == PlayerSettings().digest() and len(none.digest()) == 16
    assert PlayerSettings.model_validate({"projection": "vr360"}).digest() != none.digest()

"""Whose address a request is (contract.playback_token.client_address): X-Forwarded-For only from a
trusted proxy, its rightmost entry that is not one, as nginx's set_real_ip_from + real_ip_recursive
decide it (issue 37, finding 3: the first entry was believed from anyone)."""

from __future__ import annotations

import json

import pytest
from devtools.catalog import stored_livestream
from streamops.contract.edge import ENV_TRUSTED_PROXIES
from streamops.contract.ingest import IngestConfig
from streamops.contract.playback_token import client_address, sign, trusted_networks
from streamops.control.edge.specs import edge_pod_template
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings

PROXIES = trusted_networks(["10.42.0.0/16", "fd00::/8"])


@pytest.mark.parametrize(
    ("forwarded", "peer", "client"),
    [
        (None, "203.0.113.9", "203.0.113.9"),
        ("10.1.2.3", "203.0.113.9", "203.0.113.9"),  # an untrusted peer's header is its own claim
        ("10.1.2.3", "10.42.0.7", "10.1.2.3"),  # from the proxy: what it saw
        ("10.1.2.3, 198.51.100.4", "10.42.0.7", "198.51.100.4"),  # the client wrote 10.1.2.3 itself
        ("198.51.100.4, 10.42.1.1", "10.42.0.7", "198.51.100.4"),  # two trusted hops skipped
        ("10.42.3.3, 10.42.1.1", "10.42.0.7", "10.42.3.3"),  # only proxies: the leftmost of them
        ("198.51.100.4, not-an-ip", "10.42.0.7", "10.42.0.7"),  # garbage ends the walk: the last trusted hop
        ("", "10.42.0.7", "10.42.0.7"),
        ("2001:db8::1", "fd00::5", "2001:db8::1"),
        ("10.1.2.3", "::ffff:10.42.0.7", "10.1.2.3"),  # an IPv4-mapped peer is its IPv4 address
    ],
)
def test_the_rightmost_untrusted_hop_from_a_trusted_peer(forwarded: str | None, peer: str, client: str) -> None:
    assert client_address(forwarded, peer, PROXIES) == client


def test_without_trusted_proxies_the_header_never_counts() -> None:
    assert client_address("10.1.2.3", "127.0.0.1") == "127.0.0.1"
    assert client_address(None, None) == ""


def test_the_ingest_configuration_refuses_what_is_not_a_cidr() -> None:
    base = {"stream": "cam", "source": {"push": {}}, "mediaDir": "/m"}
    assert IngestConfig.model_validate({**base, "trustedProxies": ["10.0.0.0/8"]}).trusted_proxies == ["10.0.0.0/8"]
    with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
        IngestConfig.model_validate({**base, "trustedProxies": ["10.0.0.300/8"]})
    assert "trustedProxies" not in IngestConfig.model_validate(base).to_json(), "unset: older ingests' hash"


def test_the_operator_hands_its_trusted_proxies_to_the_ingest_and_the_edge() -> None:
    settings = OperatorSettings(
        playback=PlaybackSettings(trusted_proxy_cidrs='["10.42.0.0/16"]')
    )  # as the chart writes it
    pod = ingest_pod(stored_livestream(), "primary", settings)
    config = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
    assert config["trustedProxies"] == ["10.42.0.0/16"]
    env = {e["name"]: e.get("value") for e in edge_pod_template("media", settings)["spec"]["containers"][0]["env"]}
    assert env[ENV_TRUSTED_PROXIES] == "10.42.0.0/16"
    # Unset by default: ingests and edges deployed before it existed keep their spec (no restart).
    plain = ingest_pod(stored_livestream(), "primary", OperatorSettings())
    assert "trustedProxies" not in plain["spec"]["containers"][0]["env"][0]["value"]
    assert ENV_TRUSTED_PROXIES not in json.dumps(edge_pod_template("media", OperatorSettings()))
    with pytest.raises(ValueError):
        OperatorSettings(playback=PlaybackSettings(trusted_proxy_cidrs='["10.42.0.0/33"]'))


def test_the_go_readers_share_these_vectors() -> None:
    """components/readers/token_test.go checks these tokens with its port of `verify`: a change of the
    format here fails there too."""
    key = b"0123456789abcdef0123456789abcdef"
    assert sign(key, "ns/cam", 1795000000) == "v1~PrG9Q5lH~1795000000~~Dj38eMuI1sbXlpM2dvx5UPsYHvlcimR2lqdBYq7Hh9w"
    assert (
        sign(key, "ns/cam", 1795000000, "2001:db8::1")
        == "v1~PrG9Q5lH~1795000000~2001:db8::1~lH00phzI1oxmjbYnDtMky3MFrjUNXJoUAsKenC14iXg"
    )

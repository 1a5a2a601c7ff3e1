"""What a Restream's reconcile reads (control/restream/observe.py), against the in-memory API: the
stream's shared pusher, every active Restream of the stream with its key and CA Secrets (values as
SecretStr, versions for the target's digest), the tenancy policy's refusals, the ingest ports on the
host network, an older operator's own Pod; and nothing more once the stream is missing."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.catalog import livestream, restream, secret_data
from devtools.fake_kube import FakeKubeApi
from streamops.api import Restream
from streamops.control.restream.observe import observe, read_target, stream_restreams
from streamops.control.shared.settings import OperatorSettings, TenancySettings
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABELS as LABELS
from streamops.kube.naming import HOST_PORTS_ANNOTATION

NS = "media"
SETTINGS = OperatorSettings()
WITH_CA: dict[str, Any] = {"uri": "rtmps://192.0.2.1/live", "tls": {"caSecretRef": {"name": "ca"}}}


@pytest.fixture
def api() -> FakeKubeApi:
    return FakeKubeApi()


def mine(api: FakeKubeApi, name: str = "out") -> Restream:
    """The Restream as its reconcile is handed it."""
    return Restream.model_validate(api.object("Restream", NS, name))


def secret(api: FakeKubeApi, name: str, labelled: bool = True, **values: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **({"labels": LABELS} if labelled else {})}
    return api.add_in(NS, {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, **secret_data(**values)})


def pod(api: FakeKubeApi, name: str) -> dict[str, Any]:
    return api.add_in(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}})


def test_without_its_stream_it_reads_its_pods_and_nothing_more(api):
    api.add_in(NS, restream("out", streamKeySecretRef={"name": "yt"}))
    shared, legacy = pod(api, "cam-pusher"), pod(api, "out-pusher")
    api.clear_calls()
    seen = observe(api, mine(api), SETTINGS, host_network=True)
    assert seen.stream is None and seen.targets == () and seen.ingest_ports is None
    assert seen.pusher == shared and seen.legacy_pusher == legacy
    assert seen.key_missing is None, "its key is not looked at before the stream exists"
    reads = sorted((c.verb, c.kind) for c in api.server_reads)
    assert reads == [("get", "LiveStream"), ("get", "Pod"), ("get", "Pod"), ("get", "Pod")], "both pusher slots"


def test_the_stream_s_active_restreams_in_name_order_this_one_as_handed_over(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, restream("yt"))
    api.add_in(NS, restream("out"))
    api.add_in(NS, restream("off", active=False))
    api.add_in(NS, restream("elsewhere", streamRef={"name": "other"}))
    going = restream("going")
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    api.add_in(NS, going)
    handed = mine(api).model_copy(update={"spec": mine(api).spec.model_copy(update={"uri": "rtmp://192.0.2.1/new"})})
    seen = observe(api, handed, SETTINGS, host_network=False)
    assert [t.restream.metadata.name for t in seen.targets] == ["out", "yt"]
    assert seen.targets[0].restream.spec.uri == "rtmp://192.0.2.1/new", "its own body, not the list's (it may lag)"
    assert seen.stream is not None and seen.stream.metadata.name == "cam" and seen.pusher is None
    assert seen.legacy_pusher is None and seen.ingest_ports is None and not seen.host_network


def test_an_inactive_restream_still_reads_its_siblings_targets(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, restream("out", active=False, streamKeySecretRef={"name": "gone"}))
    api.add_in(NS, restream("yt"))
    seen = observe(api, mine(api), SETTINGS, host_network=False)
    assert [t.restream.metadata.name for t in seen.targets] == ["yt"]
    assert seen.key_missing is None and seen.key_refused is None, "an inactive one has no target to miss a key"
    assert [r.metadata.name for r in stream_restreams(api, mine(api))] == ["yt"]


def test_a_target_with_its_key_and_ca_carries_their_values_and_versions_never_in_a_repr(api):
    api.add_in(NS, restream("out", streamKeySecretRef={"name": "yt"}, **WITH_CA))
    key = secret(api, "yt", streamKey="live_123_secret")
    ca = secret(api, "ca", **{"ca.crt": "-----BEGIN CERTIFICATE-----"})
    target = read_target(api, mine(api), SETTINGS)
    assert target.key is not None and target.key.get_secret_value() == "live_123_secret"
    assert target.ca is not None and target.ca.get_secret_value() == "-----BEGIN CERTIFICATE-----"
    assert target.secret_versions == (key["metadata"]["resourceVersion"], ca["metadata"]["resourceVersion"])
    assert target.missing is None and target.refused is None
    assert "live_123_secret" not in repr(target) and "BEGIN" not in repr(target)


@pytest.mark.parametrize(
    ("secrets", "missing", "refused"),
    [
        ({}, "yt", None),
        ({"yt": {"other": "x"}}, "yt (key streamKey)", None),
        ({"yt!": {"streamKey": "x"}}, None, "Secret yt named in streamKeySecretRef is not labelled"),
        ({"yt": {"streamKey": "x"}}, None, "Secret ca named in tls.caSecretRef does not exist yet"),
        ({"yt": {"streamKey": "x"}, "ca": {}}, "ca (key ca.crt, tls.caSecretRef)", None),
        ({"yt": {"streamKey": "x"}, "ca!": {"ca.crt": "pem"}}, None, "Secret ca named in tls.caSecretRef is not"),
    ],
    ids=["no-key-secret", "no-key", "key-unlabelled", "no-ca-secret", "no-ca-key", "ca-unlabelled"],
)
def test_a_target_that_cannot_be_pushed_says_why(api, secrets, missing, refused):
    """A name ending in "!": the Secret exists without the tenancy label."""
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, restream("out", streamKeySecretRef={"name": "yt"}, **WITH_CA))
    for name, values in secrets.items():
        secret(api, name.rstrip("!"), labelled=not name.endswith("!"), **values)
    seen = observe(api, mine(api), SETTINGS, host_network=False)
    [target] = seen.targets
    assert target.key is None and target.ca is None and target.secret_versions == ()
    assert (target.missing, seen.key_missing) == (missing, missing)
    if refused is None:
        assert target.refused is None and seen.key_refused is None
    else:
        assert target.refused is not None and target.refused.startswith(refused) and seen.key_refused == target.refused


def test_without_the_label_rule_an_unlabelled_key_is_used_and_a_missing_ca_still_fails_closed(api):
    api.add_in(NS, restream("out", streamKeySecretRef={"name": "yt"}, **WITH_CA))
    secret(api, "yt", labelled=False, streamKey="x")
    settings = OperatorSettings(tenancy=TenancySettings(require_secret_label=False))
    target = read_target(api, mine(api), settings)
    assert target.refused is None and target.key is None, "no key sent without its CA: not the system's store"
    assert target.missing == "ca (key ca.crt, tls.caSecretRef)"
    secret(api, "ca", labelled=False, **{"ca.crt": "pem"})
    target = read_target(api, mine(api), settings)
    assert target.refused is None and target.key is not None and target.ca is not None


def test_its_own_secrets_are_read_now_a_sibling_s_as_read_a_moment_ago(api):
    api.add_in(NS, restream("out", streamKeySecretRef={"name": "k-out"}))
    api.add_in(NS, restream("yt", streamKeySecretRef={"name": "k-yt"}))
    secret(api, "k-out", streamKey="a")
    secret(api, "k-yt", streamKey="b")
    read_target(api, mine(api, "yt"), SETTINGS)  # yt's own reconcile, a moment ago
    read_target(api, mine(api), SETTINGS)
    api.modify("Secret", NS, "k-yt", secret_data(streamKey="rotated"))
    api.modify("Secret", NS, "k-out", secret_data(streamKey="rotated"))
    api.clear_calls()
    sibling = read_target(api, mine(api, "yt"), SETTINGS, fresh=False)
    own = read_target(api, mine(api), SETTINGS)
    assert sibling.key is not None and sibling.key.get_secret_value() == "b", "within secret_reads' max age"
    assert own.key is not None and own.key.get_secret_value() == "rotated"
    assert [c.name for c in api.server_reads] == ["k-out"]


def test_on_the_host_network_the_stream_s_ingest_ports_are_read(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, restream("out"))
    assert observe(api, mine(api), SETTINGS, host_network=True).ingest_ports is None, "not allocated yet"
    ports = '{"rtmp": 30001, "internal": 30002}'
    service = {"name": "cam-ingest", "annotations": {HOST_PORTS_ANNOTATION: ports}}
    api.add_in(NS, {"apiVersion": "v1", "kind": "Service", "metadata": service})
    seen = observe(api, mine(api), SETTINGS, host_network=True)
    assert seen.host_network and seen.ingest_ports == {"rtmp": 30001, "internal": 30002}


def test_a_restream_named_as_its_stream_has_no_legacy_pod_to_read(api):
    """`cam-pusher` is then both names: the shared Pod, never taken for an older operator's."""
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, restream("cam"))
    shared = pod(api, "cam-pusher")
    seen = observe(api, mine(api, "cam"), SETTINGS, host_network=False)
    assert seen.pusher == shared and seen.legacy_pusher is None

"""PlaybackPolicy against a real API server and the operator (docs/design/playback-rules.md): the CRD
refuses a CIDR without its prefix, an unassigned country code and an implicit no-referrer case at
admission, and the operator's status says Ready, or GeoIPDatabaseMissing for rules naming countries
without a database; `kubectl get pbp` shows it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from devtools.catalog import livestream
from devtools.cluster.api_reads import ApiRefused
from devtools.waits import eventually
from streamops.api import API_VERSION


def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "PlaybackPolicy", "metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"deniedCIDRs": ["10.0.0.1"]}, 'spec.deniedCIDRs[0]: Invalid value: "10.0.0.1"'),
        ({"allowedCountries": ["UK"]}, 'spec.allowedCountries[0]: Unsupported value: "UK"'),
        ({"allowedReferrers": ["example.com"]}, "allowedReferrers needs allowNoReferrer"),
    ],
)
def test_the_server_refuses_bad_rules(cluster, namespace, spec, says):
    with pytest.raises(ApiRefused) as refused:
        cluster.create(namespace, policy("bad", spec))
    assert says in refused.value.message, refused.value.message


def ready(o: dict[str, Any]) -> dict[str, Any] | None:
    found = [c for c in (o.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
    return found[0] if found else None


def test_status_says_whether_every_rule_can_be_enforced(cluster, operator, namespace):
    cluster.create(namespace, policy("sites", {"deniedCIDRs": ["192.0.2.0/24"]}))
    cluster.create(namespace, policy("geo", {"deniedCountries": ["US"]}))
    sites = cluster.wait_status("playbackpolicies", namespace, "sites", ready, what="Ready")
    assert (ready(sites)["status"], ready(sites)["reason"]) == ("True", "Accepted")
    geo = cluster.wait_status("playbackpolicies", namespace, "geo", ready, what="Ready")
    assert (ready(geo)["status"], ready(geo)["reason"]) == ("False", "GeoIPDatabaseMissing")
    table = cluster.kubectl("get", "pbp", "-n", namespace, "--no-headers").stdout.splitlines()
    assert sorted(line.split()[:3] for line in table) == [["geo", "0", "False"], ["sites", "0", "True"]], table


def rules_key(cluster: Any, namespace: str, stream: str) -> Any:
    found = cluster.get("configmaps", namespace, "streamops-playback-rules")
    value = ((found or {}).get("data") or {}).get(f"{stream}.json")
    return json.loads(value) if value is not None else None


def test_a_stream_naming_a_policy_gets_its_rules_and_a_missing_one_fails_closed(cluster, operator, namespace):
    """The operator's wiring on a real API server: the rules as the stream's key of the namespace's
    ConfigMap, mounted into its ingest; an edit reaches the key and replaces no Pod; a stream naming a
    policy that does not exist has no key and says PlaybackPolicyNotFound; the policy counts its streams."""
    cluster.create(namespace, policy("sites", {"deniedCIDRs": ["192.0.2.0/24"]}))
    cluster.apply(namespace, livestream("cam", playback={"policyRef": {"name": "sites"}}))
    cluster.apply(namespace, livestream("lost", playback={"policyRef": {"name": "later"}}))
    eventually(lambda: rules_key(cluster, namespace, "cam") == {"deniedCIDRs": ["192.0.2.0/24"]}, what="cam's key")
    pod = eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), what="cam's ingest Pod")
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "playback-rules")
    assert volume["configMap"]["items"] == [{"key": "cam.json", "path": "rules.json"}]
    assert volume["configMap"]["optional"] is True
    sites = cluster.wait_status("playbackpolicies", namespace, "sites", lambda o: o["status"]["streams"] == 1,
                                what="the policy counts its stream")  # fmt: skip
    assert ready(sites)["status"] == "True"
    table = cluster.kubectl("get", "pbp", "sites", "-n", namespace, "--no-headers").stdout.split()
    assert table[:3] == ["sites", "1", "True"], table

    lost = cluster.wait_status(
        "livestreams", namespace, "lost", lambda o: ready(o)["reason"] == "PlaybackPolicyNotFound", what="NotFound"
    )
    assert "PlaybackPolicy later" in ready(lost)["message"]
    assert rules_key(cluster, namespace, "lost") is None, "no key: its ingest refuses every viewer"

    cluster.patch("playbackpolicy", namespace, "sites", {"spec": {"deniedCIDRs": ["198.51.100.0/24"]}})
    eventually(lambda: rules_key(cluster, namespace, "cam") == {"deniedCIDRs": ["198.51.100.0/24"]}, what="the edit")
    assert cluster.get("pods", namespace, "cam-ingest")["metadata"]["uid"] == pod["metadata"]["uid"], "none replaced"
    cluster.create(namespace, policy("later", {}))
    eventually(lambda: rules_key(cluster, namespace, "lost") == {}, what="the policy created: lost's key")

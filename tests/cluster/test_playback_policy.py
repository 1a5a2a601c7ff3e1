"""PlaybackPolicy against a real API server and the operator (docs/design/playback-rules.md): the CRD
refuses a CIDR without its prefix, an unassigned country code and an implicit no-referrer case at
admission, and the operator's status says Ready, or GeoIPDatabaseMissing for rules naming countries
without a database; `kubectl get pbp` shows it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from streamops.api import API_VERSION


def policy(name: str, spec: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {"apiVersion": API_VERSION, "kind": "PlaybackPolicy", "metadata": {"name": name}, "spec": spec}
    )


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"deniedCIDRs": ["10.0.0.1"]}, 'spec.deniedCIDRs[0]: Invalid value: "10.0.0.1"'),
        ({"allowedCountries": ["UK"]}, 'spec.allowedCountries[0]: Unsupported value: "UK"'),
        ({"allowedReferrers": ["example.com"]}, "allowedReferrers needs allowNoReferrer"),
    ],
)
def test_the_server_refuses_bad_rules(cluster, namespace, spec, says):
    result = cluster.kubectl("create", "-n", namespace, "-f", "-", input=policy("bad", spec), check=False)
    assert result.returncode != 0 and says in result.stderr, result.stderr


def ready(o: dict[str, Any]) -> dict[str, Any] | None:
    found = [c for c in (o.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
    return found[0] if found else None


def test_status_says_whether_every_rule_can_be_enforced(cluster, operator, namespace):
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=policy("sites", {"deniedCIDRs": ["192.0.2.0/24"]}))
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=policy("geo", {"deniedCountries": ["US"]}))
    sites = cluster.wait_status("playbackpolicies", namespace, "sites", ready, what="Ready")
    assert (ready(sites)["status"], ready(sites)["reason"]) == ("True", "Accepted")
    geo = cluster.wait_status("playbackpolicies", namespace, "geo", ready, what="Ready")
    assert (ready(geo)["status"], ready(geo)["reason"]) == ("False", "GeoIPDatabaseMissing")
    table = cluster.kubectl("get", "pbp", "-n", namespace, "--no-headers").stdout.splitlines()
    assert sorted(line.split()[:2] for line in table) == [["geo", "False"], ["sites", "True"]], table

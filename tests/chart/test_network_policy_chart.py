"""The chart's NetworkPolicies (templates/networkpolicy.yaml) as `helm template` renders them: where
they go, what each allows. Their enforcement by a real engine: tests/multinode/test_network_policy.py."""

from __future__ import annotations

import ipaddress
from typing import Any

import yaml
from devtools.chart import find, objects, render

REFUSED_V4 = {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
              "192.168.0.0/16"}  # fmt: skip
WORKER_POLICIES = ["streamops-edge", "streamops-ingest", "streamops-workers"]
OPERATOR = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "streamops-system"}},
    "podSelector": {
        "matchLabels": {
            "app.kubernetes.io/name": "streamops",
            "app.kubernetes.io/instance": "streamops",
            "app.kubernetes.io/component": "operator",
        }
    },
}


def policies(objs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o["spec"] for o in find(objs, "NetworkPolicy")}


def public_block(egress: list[dict[str, Any]]) -> dict[str, Any]:
    (rule,) = [r for r in egress if any(p.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" for p in r.get("to", []))]
    return rule


def test_cluster_wide_install_ships_worker_policies_for_the_operator_to_place() -> None:
    objs = objects(render())
    assert sorted(policies(objs)) == [("streamops-system", "streamops-operator")]
    (cm,) = find(objs, "ConfigMap", "streamops-worker-network-policies")
    shipped = yaml.safe_load(cm["data"]["policies.yaml"])
    assert sorted(p["metadata"]["name"] for p in shipped) == WORKER_POLICIES
    assert all("namespace" not in p["metadata"] for p in shipped)


def test_worker_policies_in_each_watched_namespace() -> None:
    objs = objects(render(sets=("watchNamespaces={live-a,live-b}",)))
    got = policies(objs)
    for ns in ("live-a", "live-b"):
        assert sorted(name for n, name in got if n == ns) == WORKER_POLICIES
    objs = objects(render(sets=("watchNamespaces={live-a}", "networkPolicy.workerNamespaces={other}")))
    assert sorted({n for n, _ in policies(objs)}) == ["other", "streamops-system"]


def test_ingest_public_ports_from_anywhere_internal_from_operator_and_own_workers() -> None:
    spec = policies(objects(render(sets=("watchNamespaces={live}",))))[("live", "streamops-ingest")]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    public, internal = spec["ingress"]
    assert "from" not in public
    assert {p["port"] for p in public["ports"]} == {
        *("http", "rtmp", "rtmps", "srt", "webrtc-udp", "webrtc-tcp"),
        *("srt-read", "rtsp", "rtsps"),  # SRT and RTSP for readers
    }
    assert internal["ports"] == [{"port": "internal", "protocol": "TCP"}]
    assert OPERATOR in internal["from"]
    own = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "streamops",
                                           "app.kubernetes.io/managed-by": "streamops"}}}  # fmt: skip
    assert own in internal["from"] and len(internal["from"]) == 2  # no metrics scraper by default
    workers = policies(objects(render(sets=("watchNamespaces={live}",))))[("live", "streamops-workers")]
    assert workers["ingress"] == [{"from": [OPERATOR]}]
    assert set(workers["podSelector"]["matchExpressions"][0]["values"]) == {
        "recorder", "recorder-standby", "pusher", "clipper"
    }  # fmt: skip


def test_egress_refuses_link_local_private_and_cluster_ranges_unless_allow_listed() -> None:
    sets = (
        "watchNamespaces={live}",
        "networkPolicy.clusterCIDRs={10.96.0.0/12,203.0.113.0/24,fd00:10::/64}",
        "networkPolicy.egressAllowCIDRs={10.20.0.0/16}",
        "networkPolicy.apiServerCIDRs={198.51.100.7/32}",
    )
    got = policies(objects(render(sets=sets)))
    for key in [("live", "streamops-ingest"), ("streamops-system", "streamops-operator")]:
        rule = public_block(got[key]["egress"])
        v4, v6, *allowed = rule["to"]
        assert set(v4["ipBlock"]["except"]) == REFUSED_V4 | {"10.96.0.0/12", "203.0.113.0/24"}
        assert "fd00:10::/64" in v6["ipBlock"]["except"] and "fe80::/10" in v6["ipBlock"]["except"]
        assert allowed == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
        metadata = ipaddress.ip_address("169.254.169.254")
        assert any(metadata in ipaddress.ip_network(c) for c in v4["ipBlock"]["except"])
    operator = got[("streamops-system", "streamops-operator")]["egress"]
    api = [r for r in operator if r.get("to") == [{"ipBlock": {"cidr": "198.51.100.7/32"}}]]
    assert api and {p["port"] for p in api[0]["ports"]} == {443, 6443}


def test_metrics_scraper_and_disabling() -> None:
    monitoring = "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring"
    got = policies(objects(render(sets=("watchNamespaces={live}", monitoring))))
    scraper = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    assert got[("streamops-system", "streamops-operator")]["ingress"] == [
        {"ports": [{"port": "metrics", "protocol": "TCP"}], "from": [scraper]}
    ]
    assert scraper in got[("live", "streamops-workers")]["ingress"][0]["from"]
    assert scraper in got[("live", "streamops-edge")]["ingress"][1]["from"]
    assert policies(objects(render(sets=("networkPolicy.enabled=false",)))) == {}
    assert not find(objects(render(sets=("networkPolicy.enabled=false",))), "ConfigMap")


def test_dns_egress_goes_to_the_ports_the_dns_pods_listen_on() -> None:
    """A policy sees the DNS Pod's port, after the kube-dns Service's translation: the default 53, or
    networkPolicy.dnsPorts (the multi-node cluster's CoreDNS listens on 1053; with 53 only, every
    lookup of the operator and the ingest timed out there)."""

    def is_dns(peer: dict[str, Any]) -> bool:
        return (
            "namespaceSelector" in peer
            and peer.get("podSelector", {}).get("matchLabels", {}).get("k8s-app") == "kube-dns"
        )

    def dns_ports(sets: tuple[str, ...]) -> dict[str, set[tuple[int, str]]]:
        got = policies(objects(render(sets=("watchNamespaces={live}", *sets))))
        found = {}
        for (_, name), spec in got.items():
            rules = [r for r in spec.get("egress", []) if any(is_dns(p) for p in r.get("to", []))]
            if rules:
                (rule,) = rules
                found[name] = {(p["port"], p["protocol"]) for p in rule["ports"]}
        return found

    assert dns_ports(()) == {name: {(53, "UDP"), (53, "TCP")} for name in ("streamops-operator", "streamops-ingest")}
    both = {(53, "UDP"), (53, "TCP"), (1053, "UDP"), (1053, "TCP")}
    assert dns_ports(("networkPolicy.dnsPorts={53,1053}",)) == {"streamops-operator": both, "streamops-ingest": both}


def test_ingest_egress_to_the_internal_port_goes_to_the_namespace_ingests_only() -> None:
    """Issue 52, finding 8: the rule for the internal port (a backup's uplink) had no `to`, so the
    ingest reached port 8081 of any address: other namespaces, nodes, off-cluster. Every egress rule
    of the ingest now names where it goes, and that one the namespace's ingest Pods only."""
    spec = policies(objects(render(sets=("watchNamespaces={live}",))))[("live", "streamops-ingest")]
    assert all(rule.get("to") for rule in spec["egress"]), spec["egress"]
    (internal,) = [r for r in spec["egress"] if {"port": 8081, "protocol": "TCP"} in r.get("ports", [])]
    assert internal["ports"] == [{"port": 8081, "protocol": "TCP"}]
    assert internal["to"] == [
        {
            "podSelector": {
                "matchLabels": {"app.kubernetes.io/name": "streamops", "app.kubernetes.io/managed-by": "streamops"},
                "matchExpressions": [
                    {"key": "app.kubernetes.io/component", "operator": "In", "values": ["ingest", "ingest-backup"]}
                ],
            }
        }
    ]

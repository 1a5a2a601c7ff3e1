"""The local cluster's network: an island of network namespaces that nothing else on the machine
can reach, and that can reach nothing else.

`ClusterNetwork(dir, nodes)`: the outside namespace (the cluster's LAN, bridge lan0 at 10.241.0.1:
encoders, viewers, restream targets, the tests' S3 server), the control plane's, one per node (its
Pods on cni0), on the addresses of devtools.address_plan. `up()` checks the ranges unused on the
machine before and `confinement_problems()` after (no route out: ENETUNREACH); `down()` deletes the
namespaces, their interfaces, routes and iptables rules with them. The host gets in only through
devtools.cluster.portal. Two clusters reuse the ranges in separate islands (the namespace names
carry a hash of the cluster's directory), one at a time: `up()` removes the island of a run killed
before its teardown (no process left in it) and names a running one. Layout and confinement:
docs/design/local-cluster.md.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from devtools import netns
from devtools.address_plan import API_IP, CLUSTER_CIDR, FABRIC, OUTSIDE_IP, RANGES

log = logging.getLogger(__name__)

LAN_BRIDGE = "lan0"
ISLAND_NAMESPACE = re.compile(r"^(so[0-9a-f]{6})-(out|cp|n\d+)$")
UNROUTABLE_PROBE = "192.0.2.1"  # an address outside the island (the machine's own LAN gateway here)


class NetworkError(RuntimeError):
    pass


@dataclass(frozen=True)
class NodeAddress:
    name: str  # the Kubernetes node name
    netns: str
    ip: str
    pod_cidr: str

    @property
    def pod_gateway(self) -> str:
        return str(ipaddress.ip_network(self.pod_cidr)[1])


def node_address(prefix: str, index: int) -> NodeAddress:
    return NodeAddress(
        name=f"node-{index}",
        netns=f"{prefix}-n{index}",
        ip=str(FABRIC[10 + index]),
        pod_cidr=str(list(CLUSTER_CIDR.subnets(new_prefix=24))[index]),
    )


def _overlaps(cidr: str) -> bool:
    net = ipaddress.ip_network(cidr, strict=False)
    return any(net.version == r.version and net.overlaps(r) for r in RANGES)


class ClusterNetwork:
    """The island for the cluster rooted in `dir`, with `nodes` node namespaces."""

    def __init__(self, dir: Path, nodes: int) -> None:
        self.dir = Path(dir).resolve()
        self.prefix = "so" + hashlib.sha256(str(self.dir).encode()).hexdigest()[:6]
        self.outside = f"{self.prefix}-out"
        self.control = f"{self.prefix}-cp"
        self.nodes = [node_address(self.prefix, i) for i in range(1, nodes + 1)]

    # -- what is ours ------------------------------------------------------------------------

    def namespaces(self) -> list[str]:
        return [self.outside, self.control, *(n.netns for n in self.nodes)]

    def existing(self) -> list[str]:
        """Our namespaces that exist now (any node count: a previous `up` may have had more)."""
        return [n for n in netns.names() if n.startswith(self.prefix + "-")]

    def other_islands(self) -> dict[str, list[str]]:
        """Islands of other cluster runs on this machine, by prefix: their namespaces."""
        found: dict[str, list[str]] = {}
        for name in netns.names():
            match = ISLAND_NAMESPACE.match(name)
            if match and match.group(1) != self.prefix:
                found.setdefault(match.group(1), []).append(name)
        return found

    def stale_islands(self) -> dict[str, list[str]]:
        """Other runs' islands with no process left in any of their namespaces: what a run killed
        before its teardown (a session's hard end, SIGKILL, a lost machine) leaves behind."""
        return {p: names for p, names in self.other_islands().items() if not any(netns.pids(n) for n in names)}

    def node(self, name: str) -> NodeAddress:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    # -- up / down ---------------------------------------------------------------------------

    def up(self) -> None:
        """Create the island (idempotent: an island already complete is kept as it is)."""
        if set(self.namespaces()) <= set(self.existing()) and not self.confinement_problems():
            return
        self.down()
        for prefix, names in self.stale_islands().items():
            log.warning("removing the island %s a killed run left behind: %s", prefix, ", ".join(names))
            for name in names:
                netns.delete(name)
        if problems := self.ranges_in_use():
            for prefix, names in self.other_islands().items():
                pids = sorted({pid for n in names for pid in netns.pids(n)})
                problems.append(f"island {prefix} of a running cluster (PIDs {pids[:5]})")
            raise NetworkError("the cluster's address ranges are in use on this machine: " + "; ".join(problems))
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        if problems := self.confinement_problems():
            self.down()
            raise NetworkError("the cluster network is not confined: " + "; ".join(problems))

    def down(self) -> None:
        for name in self.existing():
            netns.delete(name)

    def leftovers(self) -> list[str]:
        return [f"network namespace {n}" for n in self.existing()]

    def _build(self) -> None:
        out = self.outside
        for name in self.namespaces():
            netns.create(name)
            netns.ip("link", "set", "lo", "up", netns=name)
        netns.ip("link", "add", LAN_BRIDGE, "type", "bridge", netns=out)
        netns.ip("addr", "add", f"{OUTSIDE_IP}/{FABRIC.prefixlen}", "dev", LAN_BRIDGE, netns=out)
        netns.ip("link", "set", LAN_BRIDGE, "up", netns=out)
        members = [("cp", self.control, API_IP), *((f"n{i}", n.netns, n.ip) for i, n in enumerate(self.nodes, 1))]
        for short, name, address in members:
            port = f"lan-{short}"
            # Both ends are made inside the island (`ip -n`): the root namespace never holds either.
            netns.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name, netns=out)
            netns.ip("link", "set", port, "master", LAN_BRIDGE, "up", netns=out)
            netns.ip("addr", "add", f"{address}/{FABRIC.prefixlen}", "dev", "eth0", netns=name)
            netns.ip("link", "set", "eth0", "up", netns=name)
        for node in self.nodes:
            self._node_routing(node)
            # The control plane reaches Pods directly, as a control-plane node on the pod network does:
            # the API server calls APIServices (metrics-server) and admission webhooks (cert-manager's)
            # at their Pods' addresses (--enable-aggregator-routing), through the node that hosts them.
            netns.ip("route", "add", node.pod_cidr, "via", node.ip, "dev", "eth0", netns=self.control)

    def _node_routing(self, node: NodeAddress) -> None:
        for other in self.nodes:
            if other is not node:
                netns.ip("route", "add", other.pod_cidr, "via", other.ip, "dev", "eth0", netns=node.netns)
        sysctls = {
            "net.ipv4.ip_forward": "1",
            # Pod -> Service -> Pod on the same bridge: the reply must pass iptables to be un-DNATed.
            "net.bridge.bridge-nf-call-iptables": "1",
        }
        for key, value in sysctls.items():
            netns.run(node.netns, ["sysctl", "-q", "-w", f"{key}={value}"])
        # Pods talking to the LAN (the API server, a restream target, S3) leave with the node's
        # address: the LAN knows no route to Pod ranges, as on a real network without BGP.
        netns.run(node.netns, [
            "iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", node.pod_cidr,
            "!", "-d", str(CLUSTER_CIDR), "-m", "comment", "--comment", "streamops pod egress",
            "-j", "MASQUERADE",
        ])  # fmt: skip

    # -- confinement -------------------------------------------------------------------------

    def ranges_in_use(self) -> list[str]:
        """Addresses or routes in our ranges anywhere on the machine outside this island."""
        problems = []
        foreign = [None, *(n for n in netns.names() if not n.startswith(self.prefix + "-"))]
        for ns in foreign:
            where = ns or "the root namespace"
            try:
                addrs = json.loads(netns.ip("-j", "addr", "show", netns=ns) or "[]")
                routes = json.loads(netns.ip("-j", "route", "show", "table", "all", netns=ns) or "[]")
            except (netns.NetnsError, json.JSONDecodeError):
                continue  # a namespace that vanished while we looked
            for link in addrs:
                for a in link.get("addr_info") or []:
                    if a.get("family") == "inet" and _overlaps(a["local"]):
                        problems.append(f"{a['local']} on {link['ifname']} in {where}")
            for r in routes:
                dst = r.get("dst", "default")
                if dst != "default" and "." in dst and _overlaps(dst):
                    problems.append(f"route {dst} in {where}")
        return problems

    def confinement_problems(self) -> list[str]:
        """Each of our namespaces routes our ranges to our own interfaces and nothing else at all."""
        problems = []
        for name in self.namespaces():
            try:
                routes = json.loads(netns.ip("-j", "route", "show", "table", "all", netns=name) or "[]")
            except (netns.NetnsError, json.JSONDecodeError) as e:
                problems.append(f"{name}: {e}")
                continue
            for r in routes:
                dst = r.get("dst", "default")
                if r.get("type") in ("local", "broadcast", "multicast") or dst.startswith(("127.", "ff", "fe80")):
                    continue
                if ":" in dst:
                    continue  # link-local IPv6 only: no IPv6 address is ever configured here
                if dst == "default" or not _overlaps(dst):
                    problems.append(f"{name}: route {dst} leads outside the cluster's ranges")
            probe = netns.ip("route", "get", UNROUTABLE_PROBE, netns=name, check=False)
            if probe.strip():
                problems.append(f"{name}: {UNROUTABLE_PROBE} is routable ({probe.strip()})")
        return problems

"""What the egress guard refuses (docs/design/egress.md): every address that is not a global unicast
one — loopback, link-local (the cloud metadata address), private, shared (CGNAT), unique-local,
multicast, reserved, the forms that embed an IPv4 address — and the cluster's own ranges, unless the
admin's allow-list names it. Pure: no resolution, no I/O."""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Sequence
from functools import cached_property

from pydantic import Field, field_validator

from streamops.api.kube_model import KubeModel

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED = "refused by policy"  # the whole message: nothing about the destination (no port-scan oracle)

# Written out rather than left to `is_global` alone, whose ranges change between Python versions.
DENIED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # shared address space (CGNAT): Pod ranges of some clusters
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local: the cloud metadata address 169.254.169.254
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
        "::/96",  # unspecified, loopback (::1), IPv4-compatible
        "::ffff:0:0/96",  # IPv4-mapped (checked as the IPv4 address too)
        "::ffff:0:0:0/96",  # IPv4-translated
        "64:ff9b::/96",  # NAT64: would reach any IPv4 address through the translator
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/32",  # Teredo (embeds an IPv4 address)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4 (embeds an IPv4 address)
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)


class EgressRefused(OSError):
    """A destination the policy refuses: its message is REFUSED and nothing else."""

    def __init__(self) -> None:
        super().__init__(errno.EACCES, REFUSED)

    def __str__(self) -> str:
        return REFUSED


def _networks(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def unwrapped(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped IPv6 address carries (::ffff:169.254.169.254), else itself."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class EgressPolicy(KubeModel):
    """Where tenant-chosen URLs may connect: global unicast addresses, and what `allowCidrs` names."""

    allow_cidrs: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Networks reached although refused otherwise (an in-cluster graphics service's range).",
    )
    cluster_cidrs: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="The cluster's Pod and Service ranges: refused like private ranges (which usually hold them).",
    )
    cluster_domain: str = Field(
        default="cluster.local",
        max_length=253,
        description="Names under it (and *.svc, localhost) that do not resolve are refused too.",
    )

    @field_validator("allow_cidrs", "cluster_cidrs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        _networks(values)  # ValueError names the bad one
        return values

    @cached_property
    def _allowed(self) -> tuple[IPNetwork, ...]:
        return _networks(self.allow_cidrs)

    @cached_property
    def _denied(self) -> tuple[IPNetwork, ...]:
        return (*DENIED_NETWORKS, *_networks(self.cluster_cidrs))

    def refuses(self, address: IPAddress) -> bool:
        """Whether a connection to `address` is refused (the allow-list wins over every range)."""
        candidates = {address, unwrapped(address)}
        if any(a.version == n.version and a in n for a in candidates for n in self._allowed):
            return False
        if any(a.version == n.version and a in n for a in candidates for n in self._denied):
            return True
        return not all(a.is_global for a in candidates)

    def internal_name(self, host: str) -> bool:
        """A name only the cluster resolves: its failure to resolve is reported as a refusal, so that
        a tenant cannot learn which Services of other namespaces exist."""
        name = host.rstrip(".").lower()
        domain = self.cluster_domain.rstrip(".").lower()
        return (
            name == "localhost"
            or name.endswith((".localhost", ".svc", f".{domain}", ".internal"))
            or name == domain
            or "." not in name
        )


def configured_policy(
    allow_cidrs: Sequence[str], cluster_cidrs: Sequence[str], cluster_domain: str = "cluster.local"
) -> EgressPolicy | None:
    """The admin's policy (the operator's settings); None when it is the default one, so that an
    overlay renderer's configuration (and its Pod's hash) stays what it was without one."""
    policy = EgressPolicy(
        allow_cidrs=list(allow_cidrs), cluster_cidrs=list(cluster_cidrs), cluster_domain=cluster_domain
    )
    return None if policy.model_dump() == EgressPolicy().model_dump() else policy

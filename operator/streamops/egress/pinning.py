"""An HTTP request pinned to a checked address: the URL's host replaced by the address the policy
let through, the original host kept in the Host header and, for https, in TLS (SNI and the
certificate's name). The client then neither resolves nor connects anywhere else."""

from __future__ import annotations

from dataclasses import dataclass

from yarl import URL

from streamops.contract.egress_policy import EgressPolicy, EgressRefused
from streamops.egress.resolution import Resolve, checked_addresses, system_resolve


@dataclass(frozen=True)
class PinnedRequest:
    url: URL  # with the checked address as its host
    host_header: str  # what the receiver sees as Host: the URL's own host[:port]
    server_hostname: str | None  # the name TLS checks the certificate against (https only)


async def pinned(url: str, policy: EgressPolicy, resolve: Resolve = system_resolve) -> PinnedRequest:
    """`url` pinned to the first address of its host the policy allows; EgressRefused when none is
    (or the URL is not plain http(s) with a host)."""
    try:
        parsed = URL(url)
        host, port = parsed.raw_host, parsed.port
    except ValueError:  # no URL at all (a port past 65535, a broken [IPv6]): refused, as the others
        raise EgressRefused() from None
    if parsed.scheme not in ("http", "https") or not host or port is None or not 0 < port < 65536:
        raise EgressRefused()
    address = (await checked_addresses(host, port, policy, resolve))[0]
    default_port = {"http": 80, "https": 443}[parsed.scheme]
    authority = parsed.raw_authority.rpartition("@")[2]  # never the userinfo
    return PinnedRequest(
        url=parsed.with_host(str(address)).with_port(port if port != default_port else None),
        host_header=authority,
        server_hostname=host.strip("[]").rstrip(".") if parsed.scheme == "https" else None,
    )

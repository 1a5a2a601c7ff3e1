"""A destination's host → the addresses a connection may go to: an IP literal as it is, a name
resolved once (absolute: the Pod's DNS search list never turns `svc.other-ns` into a cluster name),
each address checked by the policy. The caller connects to one of these addresses, never to the name
again, so a name that answers differently a moment later (DNS rebinding) changes nothing."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

from streamops.contract.egress_policy import EgressPolicy, EgressRefused, IPAddress

# host (absolute, with its trailing dot), port → the addresses it resolves to, as text
Resolve = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for *_, sockaddr in infos:
        if (address := str(sockaddr[0])) not in found:
            found.append(address)
    return found


def ip_literal(host: str) -> IPAddress | None:
    """The address a URL's host names literally ("[::1]" too), None for a name."""
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _askable(name: str) -> bool:
    """Whether a resolver can be asked for `name` at all: getaddrinfo encodes it with the idna codec
    first, which raises UnicodeError (no OSError) for an empty label or one of over 63 characters."""
    try:
        name.encode("idna")
    except UnicodeError:
        return False
    return True


async def checked_addresses(
    host: str, port: int, policy: EgressPolicy, resolve: Resolve = system_resolve
) -> list[IPAddress]:
    """The addresses of `host` the policy lets a connection go to, in the resolver's order; raises
    EgressRefused when there is none (and when a cluster-internal name does not resolve, or a name
    cannot be asked for), OSError when a public name does not resolve."""
    literal = ip_literal(host)
    if literal is not None:
        candidates = [literal]
    else:
        name = host.rstrip(".").lower()
        if not name or not _askable(name):
            raise EgressRefused()
        try:
            answers = await resolve(name + ".", port)
        except OSError:
            if policy.internal_name(name):
                raise EgressRefused() from None
            raise
        # A scoped link-local answer carries its interface ("fe80::1%eth0"): the address is before it.
        candidates = [a for a in (ip_literal(answer.split("%")[0]) for answer in answers) if a is not None]
    allowed = [a for a in candidates if not policy.refuses(a)]
    if not allowed:
        raise EgressRefused()
    return allowed

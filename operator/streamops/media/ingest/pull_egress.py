"""The egress guard in front of an ingest's pull URLs (issue 52, finding 9; docs/design/egress.md,
"Media URLs"): a tenant chooses them, so before every attempt the URL's host is resolved once, each
address checked by the admin's policy (the one the webhooks and overlay pages go through), and FFmpeg
opens the checked address, never the name. http(s) and HLS origins go through a GuardProxy instead:
FFmpeg's http follows redirects and an HLS playlist names segments on any host, each of which the
proxy checks. A refusal says "refused by policy" and nothing else: no port state, no timing, no
address of what was refused reaches `status.pullFailure`."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.contract.egress_policy import REFUSED, EgressPolicy, EgressRefused
from streamops.egress.media_destinations import PROXIED_SCHEMES, PinnedMedia, destination, pinned
from streamops.egress.proxy import GuardProxy
from streamops.egress.resolution import Resolve, checked_addresses, system_resolve

NOT_RESOLVED = "the URL's host name does not resolve"


class PullEgress:
    """One ingest's guard: `start()` before the first attempt (the proxy, when an http(s) URL needs
    it), `attempt(url)` before each, `refused_during()` after a failed one, `close()` at the end."""

    def __init__(self, policy: EgressPolicy, resolve: Resolve = system_resolve) -> None:
        self.policy, self.resolve = policy, resolve
        self.proxy: GuardProxy | None = None
        self._refused_before = 0

    async def start(self, urls: Sequence[str]) -> None:
        if any(url.split("://", 1)[0].lower() in PROXIED_SCHEMES for url in urls):
            self.proxy = GuardProxy(self.policy, None, self.resolve)
            await self.proxy.start()

    async def close(self) -> None:
        if self.proxy is not None:
            await self.proxy.close()

    async def attempt(self, url: str) -> PinnedMedia:
        """What FFmpeg opens for `url`. EgressRefused (its message: REFUSED) when the policy refuses
        every address of its host, OSError when a public name does not resolve."""
        dest = destination(url)
        if dest.scheme not in PROXIED_SCHEMES:
            return await pinned(url, self.policy, self.resolve)
        assert self.proxy is not None, "start() saw the URLs"
        # Checked here too, so that a refused origin fails at once, said as every refusal is; the
        # proxy checks this request again, and every later one (redirects, playlists, segments).
        await checked_addresses(dest.host, dest.port, self.policy, self.resolve)
        self._refused_before = self.proxy.refused
        return PinnedMedia(url=url, options={"http_proxy": f"http://{self.proxy.address}"})

    def refused_during(self) -> bool:
        """Whether the proxy refused a request of the last http(s) attempt (a redirect or a segment
        to an address the policy refuses): its failure is then said as REFUSED, not as FFmpeg's 403."""
        if self.proxy is None:
            return False
        return self.proxy.refused > self._refused_before


def refusal_message(error: OSError) -> str:
    """What `status.pullFailure` says of a destination the guard did not let FFmpeg open."""
    return REFUSED if isinstance(error, EgressRefused) else NOT_RESOLVED

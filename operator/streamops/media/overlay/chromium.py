"""The command line of a confined headless Chromium: shared by the overlay renderer and the
browser tests (devtools.media.browser), so the confinement is written once.

Three layers (measured in docs/design/test-harness.md, "The browser"): no background service
(the flags and features below), resolver rules answering NOTFOUND for every name not allowed (they
apply to IP literals too), and a dead proxy for every request not to an allowed host. Loopback is
implicitly direct in Chromium; `loopback=False` takes that away (`<-loopback>`), so a page in a Pod
cannot reach the Pod's own ports unless its host is named. With `proxy` (the overlay renderer's
egress guard, streamops.egress.proxy) every request goes to that proxy instead, loopback included:
nothing is direct, nothing is resolved by Chromium but the proxy's own address.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from streamops.contract.overlay import CHROMIUM_BINARY

CHROMIUM = Path(CHROMIUM_BINARY)

# Features that fetch something in the background even with --disable-background-networking.
DISABLED_FEATURES = (
    "OptimizationHints",
    "OptimizationHintsFetching",
    "OptimizationGuideModelDownloading",
    "OptimizationTargetPrediction",
    "Translate",
    "MediaRouter",  # Cast discovery: mDNS and SSDP multicast on every interface
    "DialMediaRouteProvider",
    "CastMediaRouteProvider",
    "GlobalMediaControls",
    "AutofillServerCommunication",
    "CertificateTransparencyComponentUpdater",
    "NetworkTimeServiceQuerying",
    "InterestFeedContentSuggestions",
    "PrivacySandboxSettings4",
    "SafeBrowsingEnhancedProtection",
    "AsyncDns",  # Chromium's own DNS client (and DNS-over-HTTPS upgrades) instead of getaddrinfo
)

# What the resolver rules leave alone when loopback is allowed: they apply to IP literals too
# (MAP * maps 127.0.0.1 as well).
LOOPBACK_HOSTS = ("localhost", "127.*", "[::1]")

# The proxy that is never there: port 9 (discard) on loopback, where nothing listens.
DEAD_PROXY = "127.0.0.1:9"


def confined_env(profile_dir: Path) -> dict[str, str]:
    """Chromium's whole environment: nothing like http_proxy, GOOGLE_API_KEY or
    DBUS_SESSION_BUS_ADDRESS from ours; HOME and the XDG dirs in the throwaway profile."""
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(profile_dir),
        "XDG_CONFIG_HOME": str(profile_dir / "config"),
        "XDG_CACHE_HOME": str(profile_dir / "cache"),
        "TMPDIR": str(profile_dir),
    }


def confined_flags(
    profile_dir: Path,
    *,
    allowed_hosts: Iterable[str] = (),
    loopback: bool = True,
    window_size: str = "1280,720",
    mapped_hosts: Mapping[str, str] | None = None,
    extra_flags: Iterable[str] = (),
    disabled_features: Iterable[str] = (),
    headless: str = "--headless",
    proxy: str | None = None,
    devtools_pipe: bool = False,
) -> list[str]:
    """The flags of a confined headless Chromium listening for CDP on 127.0.0.1 (the port chosen is
    written to `profile_dir/DevToolsActivePort`), or with `devtools_pipe` on its fds 3 and 4 only
    (--remote-debugging-pipe: no listener anyone on the host could connect to, which loopback
    is with a Pod's hostNetwork: the overlay renderer's). `allowed_hosts`: names or addresses pages may
    reach (besides loopback when `loopback`); `mapped_hosts`: name → "address:port" it resolves to;
    `extra_flags` come after these; `disabled_features` join DISABLED_FEATURES in the one
    --disable-features (Chromium reads only the last of repeated switches); `proxy`: "127.0.0.1:PORT"
    of a proxy every request goes through (then `allowed_hosts`, `loopback` and `mapped_hosts` are
    the proxy's business and ignored here)."""
    mapped = dict(mapped_hosts or {})
    allowed = [*(LOOPBACK_HOSTS if loopback else ()), *allowed_hosts]
    maps = "".join(f"MAP {name} {target}, " for name, target in mapped.items())  # before `MAP *`: first match wins
    resolver_rules = maps + "MAP * ~NOTFOUND"
    if allowed:
        resolver_rules += ", " + ", ".join(f"EXCLUDE {host}" for host in allowed)
    bypass = [*allowed, *mapped]  # direct, not through the dead proxy
    if not loopback:
        # loopback through the dead proxy too, unless named: first, as later rules take precedence
        bypass.insert(0, "<-loopback>")
    proxy_server, webrtc = DEAD_PROXY, []
    if proxy is not None:
        # The rules apply to IP literals too: the proxy's address is the one thing resolved.
        resolver_rules = f"MAP * ~NOTFOUND, EXCLUDE {proxy.rpartition(':')[0]}"
        proxy_server, bypass = f"http://{proxy}", ["<-loopback>"]
        # WebRTC's UDP never goes through an HTTP proxy: only what is proxied (TCP) is used.
        webrtc = ["--force-webrtc-ip-handling-policy=disable_non_proxied_udp"]
    return [
        headless,
        f"--user-data-dir={profile_dir}",
        f"--disk-cache-dir={profile_dir / 'cache'}",
        *(
            ["--remote-debugging-pipe"]
            if devtools_pipe
            # the port chosen is written to DevToolsActivePort
            else ["--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1"]
        ),
        f"--window-size={window_size}",
        # no background network use
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--safebrowsing-disable-auto-update",
        "--no-pings",
        "--metrics-recording-only",  # record nothing to upload, upload nothing
        "--disable-breakpad",
        "--disable-default-apps",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--no-service-autorun",
        "--password-store=basic",  # no keyring over D-Bus
        "--disable-quic",
        f"--disable-features={','.join([*DISABLED_FEATURES, *disabled_features])}",
        # and what still tries cannot leave
        f"--host-resolver-rules={resolver_rules}",
        f"--proxy-server={proxy_server}",
        f"--proxy-bypass-list={';'.join(bypass)}",
        *webrtc,
        # media: play with sound without a click; no audio device here, so no output either
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
        # shared memory through /tmp: container /dev/shm is often 64 MB, too small for video frames
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        *(["--no-sandbox"] if os.geteuid() == 0 else []),  # Chromium refuses to sandbox as root
        *extra_flags,
        "about:blank",
    ]


def devtools_endpoint(profile_dir: Path) -> str | None:
    """The browser's CDP websocket URL once Chromium wrote `profile_dir/DevToolsActivePort` (as
    "PORT\nPATH\n": a partial file has one line), None before."""
    with contextlib.suppress(OSError):
        lines = (profile_dir / "DevToolsActivePort").read_text().split()
        if len(lines) >= 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
    return None

"""The confined headless Chromium's command line (media/overlay/chromium.py), shared by the overlay
renderer and the browser tests: names not allowed resolve to nothing, everything else goes to a dead
proxy (or, for the renderer, to its egress proxy: nothing direct), no background service, an
environment of its own, the DevTools endpoint once Chromium wrote it. Measured against a real
Chromium: docs/design/test-harness.md ("The browser"); the renderer's: tests/media/test_overlays.py."""

from __future__ import annotations

from pathlib import Path

from streamops.media.overlay.chromium import DEAD_PROXY, confined_env, confined_flags, devtools_endpoint


def by_name(flags: list[str]) -> dict[str, str]:
    return dict(f.split("=", 1) for f in flags if f.startswith("--") and "=" in f)


def test_renderer_chromium_reaches_only_named_hosts_not_even_loopback(tmp_path):
    flags = confined_flags(tmp_path, allowed_hosts=["widgets.example.com"], loopback=False, headless="--headless=new")
    named = by_name(flags)
    assert named["--host-resolver-rules"] == "MAP * ~NOTFOUND, EXCLUDE widgets.example.com"
    assert named["--proxy-server"] == "127.0.0.1:9"
    assert named["--proxy-bypass-list"] == "<-loopback>;widgets.example.com", "loopback through the dead proxy"
    assert "--headless=new" in flags and "--remote-debugging-address=127.0.0.1" in flags


def test_the_renderers_chromium_sends_everything_to_its_proxy(tmp_path) -> None:
    flags = confined_flags(tmp_path, loopback=False, headless="--headless=new", proxy="127.0.0.1:4321")
    named = by_name(flags)
    assert named["--proxy-server"] == "http://127.0.0.1:4321"
    assert named["--proxy-bypass-list"] == "<-loopback>", "nothing direct, loopback included"
    assert named["--host-resolver-rules"] == "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "Chromium resolves nothing"
    assert named["--force-webrtc-ip-handling-policy"] == "disable_non_proxied_udp"


def test_loopback_and_mapped_names_are_direct_everything_else_goes_nowhere(tmp_path: Path):
    flags = confined_flags(
        tmp_path,
        allowed_hosts=["127.0.0.1:8080"],
        mapped_hosts={"cam.test": "127.0.0.1:8443"},
        extra_flags=["--last"],
        disabled_features=["Mine"],
        devtools_pipe=True,
    )
    named = by_name(flags)
    assert named["--host-resolver-rules"] == (
        "MAP cam.test 127.0.0.1:8443, MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*, EXCLUDE [::1], "
        "EXCLUDE 127.0.0.1:8080"
    )
    assert named["--proxy-server"] == DEAD_PROXY
    assert named["--proxy-bypass-list"] == "localhost;127.*;[::1];127.0.0.1:8080;cam.test"
    assert named["--disable-features"].endswith(",AsyncDns,Mine") and "Translate" in named["--disable-features"]
    assert "--remote-debugging-pipe" in flags and "--remote-debugging-port=0" not in flags
    assert flags[-2:] == ["--last", "about:blank"] and "--disable-background-networking" in flags
    assert "--force-webrtc-ip-handling-policy" not in named, "only behind the egress proxy"


def test_its_environment_is_its_own_and_the_devtools_endpoint_comes_once_written(tmp_path: Path):
    env = confined_env(tmp_path)
    assert set(env) == {"PATH", "LANG", "HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "TMPDIR"}
    assert env["HOME"] == str(tmp_path) and env["XDG_CACHE_HOME"].startswith(str(tmp_path))
    assert devtools_endpoint(tmp_path) is None
    (tmp_path / "DevToolsActivePort").write_text("41234\n")  # being written
    assert devtools_endpoint(tmp_path) is None
    (tmp_path / "DevToolsActivePort").write_text("41234\n/devtools/browser/abc\n")
    assert devtools_endpoint(tmp_path) == "ws://127.0.0.1:41234/devtools/browser/abc"

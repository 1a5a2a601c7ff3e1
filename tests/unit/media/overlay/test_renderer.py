"""The overlay renderer's parts that need no browser (media/overlay/renderer.py): URLs as messages
show them, the only hosts pages reach, Chromium's refusal to sandbox, and the sidecar's state: a
transparent PNG for what shows nothing, each overlay's report, status.json. With Chromium:
tests/media/test_overlays.py."""

from __future__ import annotations

from pathlib import Path

from streamops.contract.overlay import STATUS_FILE, OverlayRendererConfig, OverlayRendererStatus, png_name
from streamops.media.overlay.png import transparent_png
from streamops.media.overlay.renderer import OverlayRenderer, allowed_hosts, sandbox_refused, shown_url, url_host


def config(directory: Path) -> OverlayRendererConfig:
    return OverlayRendererConfig.model_validate(
        {
            "stream": "cam",
            "directory": str(directory),
            "overlays": [
                {"name": "score", "url": "https://widgets.example.com/score?token=t0k3n", "width": 4, "height": 2},
                {
                    "name": "logo",
                    "url": "http://[2001:db8::1]:8080/logo",
                    "width": 2,
                    "height": 2,
                    "allowedHosts": ["cdn.example.org", "widgets.example.com"],
                },
            ],
        }
    )


def test_messages_show_no_query_and_pages_reach_their_hosts_only(tmp_path: Path):
    assert shown_url("https://widgets.example.com:8443/score?token=t0k3n#x") == "https://widgets.example.com:8443/score"
    assert url_host("http://[2001:db8::1]:8080/x") == "[2001:db8::1]" and url_host("https://a.example/") == "a.example"
    assert allowed_hosts(config(tmp_path)) == ["widgets.example.com", "[2001:db8::1]", "cdn.example.org"]
    assert sandbox_refused("[1:1:FATAL:zygote_host_impl_linux.cc] No usable sandbox! ...")
    assert not sandbox_refused("[1:1:ERROR:gpu_init.cc] Passthrough is not supported")


def test_reports_change_once_per_state_and_go_to_status_json(tmp_path: Path):
    renderer = OverlayRenderer(config(tmp_path))
    score, logo = renderer.config.overlays
    renderer.show_nothing(score)
    assert (tmp_path / png_name("score")).read_bytes() == transparent_png(4, 2)
    renderer.set_state("score", "failing", "https://widgets.example.com/score: 404")
    renderer.set_state("score", "rendering", captured=True)
    renderer.set_state("score", "rendering", captured=True)
    renderer.show_off(logo)
    (tmp_path / png_name("logo")).write_bytes(b"drawn meanwhile")
    renderer.show_off(logo)  # already off: not rewritten each tick
    assert (tmp_path / png_name("logo")).read_bytes() == b"drawn meanwhile"
    renderer.write_status()
    status = OverlayRendererStatus.model_validate_json((tmp_path / STATUS_FILE).read_text())
    reports = {r.name: r for r in status.overlays}
    assert (reports["score"].state, reports["score"].message, reports["score"].captures) == ("rendering", "", 2)
    assert reports["score"].updated_at is not None and reports["logo"].state == "disabled"
    assert status.written_at is not None and status.sandboxed is None

"""The player page says why a PlaybackPolicy refused playback (docs/design/playback-rules.md), in
headless Chromium against a real ingest: a rules edit that refuses a viewer with the page open is
shown on the page (the rule and the server's line, never a token), and a page opened while refused
is the refusal's line itself. No publisher: the page probes its manifest while offline, and the gate
answers before any media is asked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devtools.media.browser import Browser

PREFIX = "/streams/media/cam"
ADDRESS_LINE = "playback of this stream is not allowed from your network address"


def write_rules(path: Path, rules: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(rules))
    tmp.replace(path)


def test_the_player_page_says_which_rule_refused_the_viewer(browser: Browser, ingest_factory: Any, tmp_path: Path):
    rules = tmp_path / "rules" / "cam.json"
    rules.parent.mkdir()
    write_rules(rules, {"deniedCIDRs": ["192.0.2.0/24"]})
    ingest = ingest_factory(playback={"namespace": "media", "rulesFile": str(rules)}, pathPrefix=PREFIX)
    page = browser.open(f"{ingest.http}{PREFIX}/player")
    try:
        page.wait_until("window.streamopsPlayer && window.streamopsPlayer.state === 'offline'", timeout=20)
        assert page.evaluate("window.streamopsPlayer.refused", await_promise=False) is None
        write_rules(rules, {"deniedCIDRs": ["127.0.0.0/8"]})  # the viewer's address, with the page open
        page.wait_until("window.streamopsPlayer.refused === 'address'", timeout=20)
        shown = page.evaluate("document.body.innerText", await_promise=False)
        assert "refused by the stream's rules (address)" in shown and ADDRESS_LINE in shown, shown
    finally:
        page.close()
    refused = browser.open(f"{ingest.http}{PREFIX}/player")
    try:
        text = refused.wait_until("document.body && document.body.innerText", timeout=20)
        assert ADDRESS_LINE in text, text
    finally:
        refused.close()

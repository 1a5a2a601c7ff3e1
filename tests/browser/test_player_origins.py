"""A PlaybackPolicy's referrer rule with Chromium's own headers (docs/design/playback-rules.md): two pages
on two loopback hosts embed the same player; the one on the allowed host plays (its iframe's load
carries that page's Referer; the player's own requests name the player's host), the one on another
host cannot (its iframe gets the 403 line: no player runs) and the ingest counts a `referrer` refusal."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devtools.http_client import http_get
from devtools.media.browser import Browser
from devtools.media.clock_source import ClockPublisher

from tests.browser.test_player import EMBED

ALLOWED, OTHER = "127.0.0.2", "127.0.0.3"


@contextmanager
def site(root: Path, host: str) -> Iterator[str]:
    """`root` served at http://<host>:<port>/ in a thread (stopped on exit)."""
    root.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"site {host}", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def refusals(ingest: Any, reason: str) -> float:
    text = http_get(ingest.control + "/metrics")[1].decode()
    prefix = "streamops_playback_refusals_total{"
    return sum(float(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith(prefix) and f'"{reason}"' in x)


def test_a_page_on_a_refused_origin_cannot_play_and_one_on_an_allowed_origin_can(
    browser: Browser, ingest_factory: Any, tmp_path: Path
) -> None:
    rules = tmp_path / "rules" / "rules.json"
    rules.parent.mkdir()
    rules.write_text(json.dumps({"allowedReferrers": [ALLOWED], "allowNoReferrer": False}))
    ingest = ingest_factory(playback={"namespace": "media", "rulesFile": str(rules)})
    for name in ("allowed", "other"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.html").write_text(EMBED % f"{ingest.http}/player")
    with (
        site(tmp_path / "allowed", ALLOWED) as allowed_url,
        site(tmp_path / "other", OTHER) as other_url,
        ClockPublisher(ingest.rtmp_url(), log_path=ingest.workdir / "publisher.log"),
    ):
        ingest.wait_live()
        allowed, other = browser.open(allowed_url), browser.open(other_url)
        try:
            allowed.wait_until("window.states.some(([, s]) => s === 'live')", timeout=60)
            assert refusals(ingest, "referrer") >= 1, "the other page's player load was refused by its Referer"
            assert other.evaluate("window.states", await_promise=False) == [], "no player ran on the other page"
        finally:
            allowed.close()
            other.close()

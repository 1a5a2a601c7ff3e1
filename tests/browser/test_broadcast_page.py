"""A Broadcast's page (docs/design/broadcasts.md) in headless Chromium against two real ingests and
FFmpeg publishers, each stream a solid colour: the page plays the stream on air, switches to the other
when the state the operator sends (POST /player-settings, as it does) puts it on air — the same page,
no reload —, shows the pause message and stops playing, and when the ingest it came from stops, keeps
following the broadcast from the other stream's copy of the state. The second stream is signed: its
token rides in the page URL's fragment, never sent to a server, and its ingest refuses nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from devtools.media.browser import Browser, Page
from devtools.media.peers import Publisher
from devtools.media.playback_keys import write_playback_keys
from streamops.contract.ingest import BroadcastMemberView, BroadcastView, PlayerSettings
from streamops.contract.playback_token import sign

from tests.browser.test_signed_player import refusals

NS = "media"
RED, GREEN = (255, 0, 0), (0, 255, 0)
VIEW = "window.streamopsBroadcast"
PLAYING = (
    "(() => { const v = document.getElementById('video'); "
    "return !v.paused && v.currentTime > 0 && v.readyState >= 3 && v.videoWidth > 0; })()"
)
# The video's centre pixel, through a canvas (hls.js feeds the <video> through MSE: not tainted).
CENTRE = (
    "(() => { const v = document.getElementById('video'); const c = document.createElement('canvas'); "
    "c.width = 8; c.height = 8; const g = c.getContext('2d'); g.drawImage(v, 0, 0, 8, 8); "
    "return Array.from(g.getImageData(4, 4, 1, 1).data); })()"
)


def prefix(name: str) -> str:
    return f"/streams/{NS}/{name}"


def view(phase: str, on_air: str | None, members: list[BroadcastMemberView]) -> str:
    settings = PlayerSettings(
        broadcasts=[BroadcastView(name="keynote", title="Keynote", phase=phase, on_air=on_air, members=members)]  # type: ignore[arg-type]
    )
    return settings.to_json()


def send(ingests: list[Any], document: str) -> None:
    for ingest in ingests:
        assert ingest.set_player(**PlayerSettings.model_validate_json(document).wire()) == 204


def colour_is(page: Page, rgb: tuple[int, int, int]) -> bool:
    pixel = page.evaluate(CENTRE, await_promise=False)
    return sum((a - b) ** 2 for a, b in zip(pixel[:3], rgb, strict=True)) ** 0.5 < 80


def test_the_broadcast_page_follows_the_stream_on_air_and_the_state_without_a_reload(
    browser: Browser, ingest_factory: Any, tmp_path: Path
) -> None:
    key = os.urandom(32)
    keys = write_playback_keys(tmp_path / "playback-keys", key)
    main = ingest_factory("main", stream="main", pathPrefix=prefix("main"), hls={"segmentSeconds": 1})
    signed = {"namespace": NS, "access": "signed", "keysDir": str(keys)}
    backup = ingest_factory(
        "backup", stream="backup", pathPrefix=prefix("backup"), hls={"segmentSeconds": 1}, playback=signed
    )
    token = sign(key, f"{NS}/backup", int(time.time()) + 600)
    members = [
        BroadcastMemberView(name="main", base=main.http + prefix("main"), hls="hls/cmaf/index.m3u8"),
        BroadcastMemberView(name="backup", base=backup.http + prefix("backup"), hls="hls/cmaf/index.m3u8", signed=True),
    ]
    both = [main, backup]
    publishers = [
        Publisher(ingest.rtmp_url(), size="320x180", rate=15, gop_seconds=1, audio=False, video_bitrate="200k",
                  video=f"color=c={colour}:s=320x180:r=15", log_path=ingest.workdir / "publisher.log")
        for ingest, colour in ((main, "0xFF0000"), (backup, "0x00FF00"))
    ]  # fmt: skip
    for publisher in publishers:
        publisher.start()
    try:
        for ingest in both:
            ingest.wait_live()
        send(both, view("Live", "main", members))
        page = browser.open(f"{main.http}{prefix('main')}/broadcasts/keynote/player#t=backup:{token}")
        try:
            page.wait_until(f"{VIEW} && {VIEW}.onAir === 'main' && {PLAYING}", timeout=60)
            page.wait_until(f"({CENTRE})[3] === 255", timeout=10)
            assert colour_is(page, RED), "the main camera on air"
            page.evaluate("window.sameDocument = true", await_promise=False)
            loads = page.evaluate(f"{VIEW}.loads", await_promise=False)

            # The backup camera put on air: the page loads it within a poll, and it is still the same page.
            send(both, view("Live", "backup", members))
            page.wait_until(f"{VIEW}.onAir === 'backup' && {PLAYING}", timeout=30)
            page.wait_until(f"(() => {{ const p = ({CENTRE}); return p[1] > 200 && p[0] < 80; }})()", timeout=15)
            after = page.evaluate(f"[window.sameDocument, {VIEW}.loads]", await_promise=False)
            assert after == [True, loads + 1], "one new source, in the same document"
            assert "/t/" + token + "/hls/cmaf/index.m3u8" in page.evaluate(f"{VIEW}.source", await_promise=False)

            # Paused: the message, nothing playing.
            send(both, view("Paused", None, members))
            page.wait_until(f"{VIEW}.phase === 'Paused' && {VIEW}.source === null", timeout=15)
            shown = page.evaluate("document.getElementById('message')", await_promise=False)
            assert shown is not None
            text = page.evaluate("document.getElementById('message').textContent", await_promise=False)
            assert text == "The broadcast is paused"

            # The ingest the page came from goes away: the state still comes, from the backup's copy
            # (through its token), and the page goes on.
            main.stop()
            send([backup], view("Live", "backup", members))
            page.wait_until(f"{VIEW}.phase === 'Live' && {VIEW}.onAir === 'backup' && {PLAYING}", timeout=30)
            assert page.evaluate("window.sameDocument", await_promise=False) is True
            assert page.evaluate(f"{VIEW}.failures", await_promise=False) == 0
        except BaseException:
            print(page.console_tail())
            raise
        finally:
            page.close()
        assert refusals(backup) == 0, "every request to the signed stream carried its token"
        assert token not in backup.logs()
    finally:
        for publisher in publishers:
            publisher.stop()

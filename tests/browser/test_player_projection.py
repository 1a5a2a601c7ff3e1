"""The player page's 360° and 180° views (spec.playback.projection, docs/design/projection.md) in
headless Chromium against real ingests and FFmpeg publishers: each publisher sends a still test
pattern whose regions are solid colours at known longitudes and latitudes, and the test reads the
WebGL canvas's centre pixel before and after turning the view through the page's own controls (a
real mouse drag, the view's look(), the device orientation event). The colour seen there is the one
the projection's math predicts for that direction: the frame's centre ahead, a quarter of the frame
to the right for 90° right (vr360), the frame's edges behind; the top half only for vr360tb; black
behind the hemisphere for vr180. The ingest takes its projection live (POST /player-settings, as
the operator sends it): the same worker process, a regular page before (no WebGL), a sphere after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from devtools.media.browser import Browser, Page
from devtools.media.peers import Publisher
from devtools.media.player_page import PLAYING
from devtools.media.workers import Ingest

# The palette of the patterns, and what the renderer clears to (nothing there: behind a vr180 hemisphere).
COLOURS = {
    "red": (255, 0, 0),  # ahead
    "green": (0, 255, 0),  # right
    "blue": (0, 0, 255),  # behind
    "yellow": (255, 255, 0),  # left
    "cyan": (0, 255, 255),  # up (latitude above 45°)
    "magenta": (255, 0, 255),  # down (below -45°)
    "grey": (128, 128, 128),  # vr360tb's bottom half: the right eye, never shown
    "black": (0, 0, 0),
}
RATE = 15


def pattern(width: int, height: int, base: str, boxes: list[tuple[int, int, int, int, str]]) -> str:
    """A lavfi graph: a `base` frame with solid boxes (x, y, w, h, colour) drawn in order."""
    hexes = {name: "0x{:02X}{:02X}{:02X}".format(*rgb) for name, rgb in COLOURS.items()}
    graph = f"color=c={hexes[base]}:s={width}x{height}:r={RATE}"
    for x, y, w, h, colour in boxes:
        graph += f",drawbox=x={x}:y={y}:w={w}:h={h}:color={hexes[colour]}:t=fill"
    return graph


def equirect_360(top: int = 0) -> list[tuple[int, int, int, int, str]]:
    """A 512x256 equirectangular panorama (at row `top`): longitude -180° at x 0, 0° (ahead) at 256;
    each colour centred on its direction, 90° wide (128 px); the top and bottom 45° of latitude (64
    rows each) cyan and magenta."""
    return [
        (0, top, 512, 256, "blue"),  # behind: -180..-135 and 135..180
        (64, top, 128, 256, "yellow"),  # left: -135..-45
        (192, top, 128, 256, "red"),  # ahead: -45..45
        (320, top, 128, 256, "green"),  # right: 45..135
        (0, top, 512, 64, "cyan"),
        (0, top + 192, 512, 64, "magenta"),
    ]


PATTERNS = {
    "vr360": ("512x256", pattern(512, 256, "blue", equirect_360())),
    # Top-bottom stereo: the left eye's panorama above, a grey right eye below.
    "vr360tb": ("512x512", pattern(512, 512, "grey", equirect_360())),
    # The front hemisphere, longitude -90..90 across 256 px: left, ahead, right a third each (60°).
    "vr180": (
        "256x256",
        pattern(256, 256, "red", [(0, 0, 85, 256, "yellow"), (171, 0, 85, 256, "green"), (0, 0, 256, 64, "cyan"),
                                  (0, 192, 256, 64, "magenta")]),
    ),
}  # fmt: skip

# (yaw, pitch) in degrees (right and up positive) -> the colour at the canvas's centre.
EXPECTED = {
    "vr360": {(180, 0): "blue", (-90, 0): "yellow", (0, 60): "cyan", (0, -60): "magenta"},
    # Pitch -60 lands in the top half's magenta band; on the whole frame it would be the grey eye.
    "vr360tb": {(0, 0): "red", (90, 0): "green", (180, 0): "blue", (0, -60): "magenta"},
    "vr180": {(0, 0): "red", (60, 0): "green", (-60, 0): "yellow", (0, 60): "cyan", (180, 0): "black"},
}

VIEW = "window.streamopsPlayer.projection"
READY = f"!!{VIEW} && {VIEW}.ready === true && ({PLAYING})"


def colour(rgba: list[int]) -> str:
    """The palette's colour nearest to a pixel (the video's YUV round trip moves each channel a little)."""
    name, distance = min(
        ((n, sum((a - b) ** 2 for a, b in zip(rgba[:3], rgb, strict=True)) ** 0.5) for n, rgb in COLOURS.items()),
        key=lambda found: found[1],
    )
    assert distance < 80, f"pixel {rgba} is none of the pattern's colours (nearest {name}, {distance:.0f} away)"
    return name


def centre(page: Page) -> str:
    return colour(page.evaluate(f"{VIEW}.centre()", await_promise=False))


def looking(page: Page, yaw: float, pitch: float) -> str:
    page.evaluate(f"{VIEW}.look({yaw}, {pitch})", await_promise=False)
    return centre(page)


def drag(page: Page, dx: float) -> None:
    """A real mouse drag on the canvas (CDP input events), from near its right edge towards the left
    by `dx`, across its middle (the window's size is the harness's: devtools.media.browser)."""
    width, height = page.evaluate(
        "(c => [c.clientWidth, c.clientHeight])(document.getElementById('projection'))", await_promise=False
    )
    start, y = width - 20.0, height / 2
    end = start - dx
    assert end > 0, f"a drag of {dx} px does not fit the canvas's {width} px"
    mouse = "Input.dispatchMouseEvent"
    page.call(mouse, {"type": "mousePressed", "x": start, "y": y, "button": "left", "buttons": 1, "clickCount": 1})
    for step in range(1, 9):
        x = start + (end - start) * step / 8
        page.call(mouse, {"type": "mouseMoved", "x": x, "y": y, "button": "left", "buttons": 1})
    page.call(mouse, {"type": "mouseReleased", "x": end, "y": y, "button": "left", "buttons": 0, "clickCount": 1})


def orient(page: Page, alpha: float, beta: float, gamma: float) -> None:
    event = json.dumps({"alpha": alpha, "beta": beta, "gamma": gamma})
    dispatch = f"window.dispatchEvent(new DeviceOrientationEvent('deviceorientation', {event}))"
    page.evaluate(dispatch, await_promise=False)


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Ingest]]:
    """One ingest per projection, each live with its pattern (1 s segments, no DVR), all started
    together: one start-up's wait for the three. Their projection is left to the tests."""
    with ExitStack() as stack:
        ingests = {}
        for name, (size, video) in PATTERNS.items():
            workdir = tmp_path_factory.mktemp(name)
            ingest = Ingest(workdir, dvr={"enabled": False}, hls={"segmentSeconds": 1}, stream=name)
            stack.callback(ingest.stop)
            ingests[name] = ingest.start()
            publisher = Publisher(
                ingest.rtmp_url(), size=size, rate=RATE, gop_seconds=1, audio=False, video_bitrate="300k",
                video=video, log_path=workdir / "publisher.log",
            )  # fmt: skip
            stack.enter_context(publisher)
        for ingest in ingests.values():
            ingest.wait_live()
        yield ingests


def open_view(browser: Browser, ingest: Ingest) -> Page:
    page = browser.open(f"{ingest.http}/player")
    try:
        page.wait_until(READY, timeout=60)
        # The canvas shows a picture once the video has one: the texture has the pattern.
        page.wait_until(f"{VIEW}.centre() && {VIEW}.centre()[3] === 255", timeout=10)
    except BaseException:
        print(page.console_tail())
        page.close()
        raise
    return page


def test_vr360_turns_with_a_drag_the_view_and_the_device(browser: Browser, streams: dict[str, Ingest]) -> None:
    ingest = streams["vr360"]
    pid = ingest.process.pid if ingest.process else None
    # Regular first (an ingest's default): the flat page as before, no canvas and no WebGL library.
    page = browser.open(f"{ingest.http}/player")
    try:
        page.wait_until(PLAYING, timeout=60)
        flat = (
            "[window.streamopsPlayer.projection, !!document.querySelector('canvas'), "
            "performance.getEntriesByType('resource').filter(r => /three|projection/.test(r.name)).length]"
        )
        assert page.evaluate(flat, await_promise=False) == [None, False, 0]
    finally:
        page.close()

    # Switched live, as the operator does: the same worker process, the next page is a sphere.
    assert ingest.set_player(projection="vr360") == 204
    assert ingest.status()["projection"] == "vr360"
    assert ingest.set_player(projection="vr720") == 400
    page = open_view(browser, ingest)
    try:
        assert ingest.process is not None and ingest.process.pid == pid, "no restart"
        assert centre(page) == "red", "ahead: the frame's centre"
        # The page's own control: a mouse drag to the left by 1.2 x the canvas's height turns the
        # view right by 1.2 x the vertical field of view (75°): 90°.
        height = page.evaluate("document.getElementById('projection').clientHeight", await_promise=False)
        drag(page, 90 / 75 * height)
        assert page.evaluate(f"{VIEW}.yaw", await_promise=False) == pytest.approx(90, abs=0.01)
        assert centre(page) == "green", "90° right: three quarters across the frame"
        for (yaw, pitch), expected in EXPECTED["vr360"].items():
            assert looking(page, yaw, pitch) == expected, f"yaw {yaw}, pitch {pitch}"
        # The device's orientation: upright facing ahead (the heading it starts with), then turned 90°
        # to the left (alpha grows counterclockwise); dragging then turns the heading only.
        page.evaluate(f"{VIEW}.look(0, 0)", await_promise=False)
        orient(page, alpha=30, beta=90, gamma=0)
        assert page.evaluate(f"{VIEW}.gyro", await_promise=False) is True
        assert centre(page) == "red"
        orient(page, alpha=120, beta=90, gamma=0)
        assert page.evaluate(f"{VIEW}.yaw", await_promise=False) == pytest.approx(-90, abs=0.01)
        assert centre(page) == "yellow", "turned left"
        orient(page, alpha=120, beta=150, gamma=0)  # tilted back: looking up 60°
        assert centre(page) == "cyan"
    finally:
        page.close()


@pytest.mark.parametrize("projection", ["vr360tb", "vr180"])
def test_top_bottom_and_180(browser: Browser, streams: dict[str, Ingest], projection: str) -> None:
    ingest = streams[projection]
    assert ingest.set_player(projection=projection) == 204
    page = open_view(browser, ingest)
    try:
        seen: dict[Any, str] = {}
        for (yaw, pitch), expected in EXPECTED[projection].items():
            seen[yaw, pitch] = looking(page, yaw, pitch)
            assert seen[yaw, pitch] == expected, f"{projection} yaw {yaw}, pitch {pitch}: {seen}"
    finally:
        page.close()

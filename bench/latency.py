#!/usr/bin/env python3
"""`make bench-latency`: glass-to-glass latency measured in a real browser. Writes
bench/results/latency.md.

A clock publisher (devtools.media.clock_source: the wall clock burned into every frame, 640x360 30 fps,
x264 zerolatency, 1 s GOP) pushes RTMP to each server in turn; headless Chromium
(devtools.media.browser, confined to loopback) opens the player page and reads the clock back from every
presented picture (requestVideoFrameCallback + canvas): latency = when the picture reaches the
screen − the time burned into it. Both run on this machine, so they share the clock.

Rows, each on a fresh server and a fresh page, sampled for --seconds after --settle seconds of play:
- streamops, standard HLS (CMAF, 2 s segments) in hls.js with its defaults;
- streamops, LL-HLS (hls.latencyMode low, 200 ms parts) in hls.js with lowLatencyMode;
- streamops, DASH (FFmpeg's dash muxer, 2 s segments) in dash.js;
- streamops, low-latency DASH (dashLatencyMode low: chunked CMAF, 200 ms chunks, 2 s segments, sent
  while written) in dash.js's low-latency mode (the MPD's target latency, live catch-up);
- the peer: nginx-rtmp's HLS with the smallest fragment it cuts with a 1 s GOP (hls_fragment 1s,
  hls_playlist_length 3s), played by the same page and hls.js (its defaults).

WebRTC rows (`--rows webrtc` runs only these; streamops-webrtc, components/webrtc), each a fresh
component, Chromium and namespace (devtools.media.webrtc_stand: everything on the loopback of a
namespace with only lo), WHEP played in the harness's page (devtools.media.webrtc_pages):
- WHIP from Chromium: its fake camera reads the clock camera's Y4M (devtools.media.webrtc_camera,
  rewritten every 4 ms: the burned time is 0-4 ms older than the capture), OpenH264 + Opus;
- RTMP push of the clock publisher → FFmpeg (copy + h264_mp4toannexb, AAC → Opus) → RTP into the
  component's input ports (devtools.media.webrtc_rtp_feed): the component alone, fed as the
  ingest's WHEP feeder feeds it but by FFmpeg reading the RTMP push itself (the ingest's rows below);
- for both sources, --joins fresh viewers: time from the WHEP POST to the first picture shown, and
  the latency over the first second after it (the GOP cache starts a joiner in the past).

WebRTC rows through the ingest worker (`--rows ingest-webrtc` runs only these): the real
`streamops worker ingest` with `webrtc` (it runs streamops-webrtc, the WHIP session's FFmpeg and the
WHEP feeder), its pages under a path prefix, each row a fresh worker, Chromium and namespace with
only lo (devtools.media.ingest_webrtc), every ICE candidate of every offer and answer checked to be
a host candidate on 127.0.0.0/8:
- WHIP from the product's publish page (the clock camera, the stream key typed in: Bearer) → ingest
  → WHEP in the product's player page (?format=webrtc);
- RTMP push of the clock publisher → ingest (its WHEP feeder: the served feed → FFmpeg → RTP into
  the component) → WHEP in the player page;
- WHIP from the publish page → ingest (the WHIP session's FFmpeg, LL-HLS: hls.latencyMode low) →
  the player page playing HLS (?format=hls: hls.js lowLatencyMode), the hosted platform's path;
- for both WebRTC sources, --joins fresh player pages: WHEP POST → first picture (the page's own
  firstFrame), its clock (read before the page's scripts run: a first-picture hook) and the latency
  over its first second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from devtools.media import webrtc_pages
from devtools.media.browser import Browser
from devtools.media.clock_source import (
    ClockPublisher,
    LatencySample,
    glass_to_glass,
    install_clock_strip,
    strip_layout,
)
from devtools.media.ingest_webrtc import IngestWebRtcStand, ingest_webrtc_stand, loopback_candidates
from devtools.media.peers import NginxRtmp
from devtools.media.player_page import PLAYING, PLAYING_WEBRTC, PUBLISHER, VIDEO, start_publishing
from devtools.media.webrtc_rtp_feed import RtmpToRtp
from devtools.media.webrtc_stand import WebRtcStand, webrtc_stand
from devtools.media.workers import Ingest
from devtools.ports import free_port
from devtools.versions import REPO as ROOT
from devtools.waits import wait_for
from streamops.media.ingest.player.page import PlayerOptions, add_player_routes

from bench.report_file import commit, loadavg, merged_report


@dataclass(frozen=True)
class Row:
    name: str
    sample: LatencySample
    target_ms: float | None
    note: str = ""  # for the raw line (the WebRTC viewer's jitter buffers)


@contextlib.contextmanager
def ingest_source(tmp: Path, **overrides: Any) -> Iterator[str]:
    """A streamops ingest with the clock publisher on it; yields its player page's URL."""
    workdir = tmp / f"ingest-{time.monotonic_ns()}"
    workdir.mkdir()
    ingest = Ingest(workdir, screenshots={"enabled": False}, **overrides).start()
    try:
        with ClockPublisher(ingest.rtmp_url(), log_path=workdir / "publisher.log"):
            ingest.wait_live()
            yield f"{ingest.http}/player"
    finally:
        ingest.stop()


@contextlib.contextmanager
def nginx_source(tmp: Path) -> Iterator[str]:
    """nginx-rtmp's HLS, played by the same player page (served here, the playlist on nginx)."""
    workdir = tmp / f"nginx-{time.monotonic_ns()}"
    with (
        NginxRtmp(hls=True, hls_fragment=1, hls_playlist_length=3, workdir=workdir) as nginx,
        ClockPublisher(nginx.rtmp_url(), log_path=workdir / "publisher.log"),
    ):
        wait_for(lambda: len(nginx.segments()) >= 3, timeout=30)
        with player_page_for(nginx.hls_url()) as url:
            yield url


@contextlib.contextmanager
def player_page_for(playlist_url: str) -> Iterator[str]:
    """The streamops player page for a playlist elsewhere (an absolute URL resolves as itself)."""
    app = web.Application()
    add_player_routes(app, "", PlayerOptions("nginx", playlist_url, None, False, None))
    port = free_port()
    loop_ready = threading.Event()
    state: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        state["loop"], state["runner"] = loop, runner
        loop_ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    loop_ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}/player"
    finally:
        state["loop"].call_soon_threadsafe(state["loop"].stop)
        thread.join(10)


def measure(browser: Browser, url: str, settle: float, seconds: float) -> LatencySample:
    page = browser.open(url)
    try:
        page.wait_until(PLAYING, timeout=60)
        time.sleep(settle)  # the players approach their target latency after the start
        return glass_to_glass(page, VIDEO, seconds)
    finally:
        page.close()


# --- WebRTC rows ------------------------------------------------------------------------------------

WEBRTC_HEADING = "## WebRTC: WHIP and WHEP (streamops-webrtc)"


@dataclass(frozen=True)
class JoinRow:
    """--joins fresh viewers of one source: WHEP POST → first picture shown (ms), that picture's own
    glass-to-glass (ms: how far in the past a joiner starts), and the median glass-to-glass over
    the first second after it (ms)."""

    name: str
    first_frame_ms: list[float]
    first_picture_age_ms: list[float]
    first_second_ms: list[float]
    target_ms: float


@contextlib.contextmanager
def whip_source(stand: WebRtcStand) -> Iterator[None]:
    """Chromium publishing its clock camera over WHIP, until the block ends (then DELETE)."""
    page = stand.open_page()
    try:
        result = page.evaluate(webrtc_pages.publish_expression(stand.pages.whip_url), timeout=30)
        if result["status"] != 201:
            raise RuntimeError(f"WHIP: {webrtc_pages.exchange_summary(result)}\n{page.console_tail()}")
        page.wait_until(webrtc_pages.CONNECTED, timeout=20)
        time.sleep(1)  # past the encoder's first seconds (its bandwidth estimate ramps up from the start)
        yield
        print(f"  publisher: {page.evaluate('streamopsWebRtc.stats()')}", flush=True)
        page.evaluate("streamopsWebRtc.stop()")
    finally:
        page.close()


@contextlib.contextmanager
def rtmp_rtp_source(stand: WebRtcStand) -> Iterator[None]:
    """The clock publisher pushing RTMP to FFmpeg, which sends H.264 + Opus RTP to the component."""
    workdir = Path(stand.component.workdir)
    assert stand.component.rtp_in_ports is not None
    feed_log = str(workdir / "rtmp-to-rtp.log")
    with (
        RtmpToRtp(stand.component.rtp_in_ports, netns=stand.netns, log_path=feed_log) as feed,
        ClockPublisher(feed.rtmp_url, netns=stand.netns, log_path=workdir / "publisher.log"),
    ):
        wait_for(lambda: stand.status()["rtpInLive"], timeout=20, what="RTP from FFmpeg at the component")
        time.sleep(1)
        yield


def play_webrtc(stand: WebRtcStand) -> Any:
    """A fresh viewer page playing WHEP, the clock of its first picture read. Returns the page."""
    page = stand.open_page()
    install_clock_strip(page)
    expression = webrtc_pages.play_expression(stand.pages.whep_url, clock_layout=strip_layout())
    result = page.evaluate(expression, timeout=30)
    if result["status"] != 201:
        page.close()
        raise RuntimeError(f"WHEP: {webrtc_pages.exchange_summary(result)}")
    page.wait_until(webrtc_pages.PLAYING, timeout=30)
    return page


def measure_webrtc(stand: WebRtcStand, settle: float, seconds: float) -> LatencySample:
    page = play_webrtc(stand)
    try:
        time.sleep(settle)
        sample = glass_to_glass(page, webrtc_pages.VIDEO, seconds)
        print(f"  viewer: {page.evaluate('streamopsWebRtc.stats()')}", flush=True)
        page.evaluate("streamopsWebRtc.stop()")
        return sample
    finally:
        page.close()


def measure_joins(stand: WebRtcStand, name: str, joins: int) -> JoinRow:
    first_frame, first_age, first_second = [], [], []
    for _ in range(joins):
        page = play_webrtc(stand)
        try:
            first = page.evaluate("streamopsWebRtc.firstFrame", timeout=10)
            first_frame.append(float(first["sincePostMs"]))
            if first["burnedMs"] is not None:  # None: its strip did not read (checksum)
                first_age.append(float(first["shownAt"]) - float(first["burnedMs"]))
            first_second.append(glass_to_glass(page, webrtc_pages.VIDEO, 1.0).median)
            page.evaluate("streamopsWebRtc.stop()")
        finally:
            page.close()
        time.sleep(0.5)  # joins spread over the GOP (1 s for RTP, 2 s keyframe requests for WHIP)
    print(
        f"{name} joins: first frame {first_frame} ms after the POST, its latency {first_age} ms; first-second "
        f"latency {first_second} ms",
        flush=True,
    )
    return JoinRow(name, first_frame, first_age, first_second, 1000)


def webrtc_rows(tmp: Path, settle: float, seconds: float, joins: int) -> tuple[list[Row], list[JoinRow]]:
    rows: list[Row] = []
    join_rows: list[JoinRow] = []
    sources: list[tuple[str, str, Any, float]] = [
        (
            "WHIP from Chromium (fake camera: the clock Y4M; OpenH264 + Opus) → streamops-webrtc → WHEP in Chromium",
            "WHIP source",
            whip_source,
            300,
        ),
        (
            "RTMP push (clock publisher, x264 zerolatency, no B-frames) → FFmpeg (copy + h264_mp4toannexb, AAC → "
            "Opus) → RTP → streamops-webrtc → WHEP in Chromium (the component alone, no ingest)",
            "RTMP → RTP source",
            rtmp_rtp_source,
            500,
        ),
    ]
    for name, short, source, target in sources:
        with webrtc_stand(tmp / f"webrtc-{time.monotonic_ns()}") as stand, source(stand):
            sample = measure_webrtc(stand, settle, seconds)
            print(f"{name}: {sample.summary()}", flush=True)
            rows.append(Row(name, sample, target))
            join_rows.append(measure_joins(stand, short, joins))
            print(f"  component: {stand.status()}", flush=True)
    return rows, join_rows


def quantile(values: list[float], q: int) -> float:
    """The q-th percentile (inclusive method, as LatencySample.p95)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def webrtc_table(rows: list[Row]) -> list[str]:
    """The latency table of WebRTC rows (median, p95, stalls, frames, the median's target)."""
    lines = ["| row | median | p95 | stalls | frames read | target |", "|---|---|---|---|---|---|"]
    for row in rows:
        s = row.sample
        target = row.target_ms or 0
        verdict = f"median ≤ {target / 1000:.1f} s " + ("✅" if s.median <= target else "❌")
        lines.append(
            f"| {row.name} | {s.median / 1000:.3f} s | {s.p95 / 1000:.3f} s | {s.waiting} | {s.decoded}/{s.presented} "
            f"| {verdict} |"
        )
    return lines


def webrtc_section(rows: list[Row], joins: list[JoinRow], args: argparse.Namespace, load_before: str) -> list[str]:
    lines = [
        WEBRTC_HEADING,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC} on {platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"commit {commit()}; /proc/loadavg before: {load_before}, after: {loadavg()}; headless Chromium "
        f"{browser_version()} from Debian, streamops-webrtc as hack/build-webrtc.sh builds it.",
        "",
        "Each source on a fresh component, Chromium and network namespace (only lo: every candidate on "
        "127.0.0.1, no STUN/TURN); the viewer a fresh page of the harness (devtools.media.webrtc_pages) playing "
        f"WHEP, sampled for {args.seconds:.0f} s after {args.settle:.0f} s of play. The WHIP camera is Chromium's "
        "fake device reading a one-frame Y4M rewritten with the clock every 4 ms (devtools.media.webrtc_camera): "
        "its burned time is 0-4 ms older than the capture, so these rows read up to 4 ms (2 ms on average) high. "
        "The RTMP row's publisher is the clock publisher of the rows above (640x360 30 fps, 1 s GOP).",
        "",
        *webrtc_table(rows),
    ]
    lines += [
        "",
        f"Joining: {args.joins} fresh viewer pages per source, one after another (0.5 s apart), each from the WHEP "
        "POST (offer complete, ICE gathered) to the first picture presented (requestVideoFrameCallback's "
        "expectedDisplayTime); the clock in that first picture (how far in the past the GOP cache starts a "
        "joiner), then glass-to-glass over its first second of play.",
        "",
        "| source | joins | WHEP POST → first picture: median | p95 | max | first picture's latency: median | max "
        "| latency in the first second: median of the joins | worst join | target (POST → picture) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for join in joins:
        ff, fs, age = join.first_frame_ms, join.first_second_ms, join.first_picture_age_ms or [float("nan")]
        verdict = f"≤ {join.target_ms / 1000:.1f} s " + ("✅" if quantile(ff, 95) <= join.target_ms else "❌")
        lines.append(
            f"| {join.name} | {len(ff)} | {statistics.median(ff) / 1000:.3f} s | {quantile(ff, 95) / 1000:.3f} s | "
            f"{max(ff) / 1000:.3f} s | {statistics.median(age) / 1000:.3f} s ({len(join.first_picture_age_ms)} read) | "
            f"{max(age) / 1000:.3f} s | {statistics.median(fs) / 1000:.3f} s | {max(fs) / 1000:.3f} s | {verdict} |"
        )
    lines += ["", "Raw: " + "; ".join(f"{r.name}: {r.sample.summary()}" for r in rows) + ".", ""]
    return lines


# --- WebRTC through the ingest worker ---------------------------------------------------------------

INGEST_HEADING = "## WebRTC through the ingest worker (streamops worker ingest)"
PLAYER = "window.streamopsPlayer"
WHIP_PROTOCOLS = {"push": {"protocols": ["rtmp", "srt", "whip"]}}


@dataclass(frozen=True)
class IngestJoins(JoinRow):
    """JoinRow, plus the page's own start → first picture (navigation, scripts, ICE gathering, POST)."""

    page_start_ms: list[float]


def ingest_live(stand: IngestWebRtcStand, source: str, whep: bool) -> dict[str, Any]:
    """Wait until the worker is live from `source` (and, with whep, a WHEP viewer would be served)."""

    def live() -> dict[str, Any] | None:
        status = stand.status()
        webrtc = status.get("webrtc") or {}
        return (
            status
            if status["live"] and status.get("source") == source and (webrtc.get("whepLive") or not whep)
            else None
        )

    return wait_for(live, timeout=30, what=f"the ingest live from {source}" + (" with WHEP" if whep else ""))


@contextlib.contextmanager
def ingest_whip_source(stand: IngestWebRtcStand, whep: bool = True) -> Iterator[None]:
    """The product's publish page publishing Chromium's clock camera over WHIP (the stream key typed
    in, as a person would: POST {prefix}/whip with Authorization: Bearer <key>); Stop at the end."""
    page = stand.open("publish")
    try:
        page.wait_until(f"{PUBLISHER}.preview", timeout=15)
        page.evaluate(start_publishing(Ingest.KEY), await_promise=False)
        state = page.wait_until(f"['live', 'failed'].includes({PUBLISHER}.state) && {PUBLISHER}.state", timeout=30)
        if state != "live":
            shown = page.evaluate(f"[{PUBLISHER}.status, {PUBLISHER}.message]", await_promise=False)
            raise RuntimeError(f"the publish page failed: {shown}\n{page.console_tail()}")
        offer, answer = page.evaluate(f"[{PUBLISHER}.offer, {PUBLISHER}.answer]", await_promise=False)
        loopback_candidates(offer, "WHIP offer (publish page)")
        loopback_candidates(answer, "WHIP answer (ingest)")
        ingest_live(stand, "whip", whep)
        time.sleep(1)  # past the encoder's first seconds (its bandwidth estimate ramps up from the start)
        yield
        print(f"  publisher: {page.evaluate(f'{PUBLISHER}.stats()')}", flush=True)
        page.evaluate("document.getElementById('stop').click()", await_promise=False)
        page.wait_until(f"{PUBLISHER}.state === 'stopped'", timeout=10)
    finally:
        page.close()


@contextlib.contextmanager
def ingest_rtmp_source(stand: IngestWebRtcStand) -> Iterator[None]:
    """The clock publisher pushing RTMP to the worker; its WHEP feeder sends the feed to the component."""
    with stand.rtmp_publisher():
        ingest_live(stand, "rtmp", whep=True)
        time.sleep(1)
        yield


def play_ingest_webrtc(stand: IngestWebRtcStand) -> Any:
    """A fresh player page in WebRTC mode (the first-picture clock hook in it) playing; its WHEP
    offer's and answer's candidates checked. Returns the page."""
    page = stand.open("player?format=webrtc", first_clock=True)
    try:
        page.wait_until(PLAYING_WEBRTC, timeout=30)
        webrtc = page.evaluate(f"{PLAYER}.webrtc", await_promise=False)
        if webrtc["status"] != 201:
            raise RuntimeError(f"WHEP: {webrtc['status']} {str(webrtc.get('body'))[:200]!r}")
        loopback_candidates(webrtc["offer"], "WHEP offer (player page)")
        loopback_candidates(webrtc["answer"], "WHEP answer (ingest)")
    except BaseException:
        page.close()
        raise
    return page


def jitter_buffers(stats: dict[str, Any]) -> str:
    """The viewer's mean jitter buffer delay per kind (getStats: jitterBufferDelay over
    jitterBufferEmittedCount), since its start: Chromium holds video back to play it in sync with
    the audio, so the audio's buffer shows in the video's latency."""
    parts = []
    for kind in ("video", "audio"):
        s = stats.get(kind) or {}
        if s.get("jitterBufferEmittedCount"):
            parts.append(f"{kind} {1000 * s['jitterBufferDelay'] / s['jitterBufferEmittedCount']:.0f} ms")
    return "Chromium's jitter buffers (mean since the start): " + ", ".join(parts) if parts else ""


def measure_ingest_webrtc(stand: IngestWebRtcStand, settle: float, seconds: float) -> tuple[LatencySample, str]:
    page = play_ingest_webrtc(stand)
    try:
        time.sleep(settle)
        sample = glass_to_glass(page, VIDEO, seconds)
        stats = page.evaluate(f"{PLAYER}.webrtc.stats()")
        print(f"  viewer: {stats}", flush=True)
        return sample, jitter_buffers(stats)
    finally:
        page.close()  # pagehide: the page DELETEs its WHEP session


def measure_ingest_hls(stand: IngestWebRtcStand, settle: float, seconds: float) -> LatencySample:
    page = stand.open("player?format=hls")
    try:
        page.wait_until(PLAYING, timeout=60)
        mode = page.evaluate(f"[{PLAYER}.mode, {PLAYER}.lowLatency]", await_promise=False)
        if mode != ["hls", True]:
            raise RuntimeError(f"the player page plays {mode}, not LL-HLS")
        time.sleep(settle)
        return glass_to_glass(page, VIDEO, seconds)
    finally:
        page.close()


def measure_ingest_joins(stand: IngestWebRtcStand, name: str, joins: int) -> IngestJoins:
    first_frame, page_start, first_age, first_second = [], [], [], []
    for _ in range(joins):
        page = play_ingest_webrtc(stand)
        try:
            first = page.wait_until(f"{PLAYER}.firstFrame", timeout=10)
            first_frame.append(float(first["sincePostMs"]))
            page_start.append(float(first["ms"]))
            clock = page.wait_until("window.streamopsFirstClock", timeout=10)
            if clock["burnedMs"] is not None:  # None: its strip did not read (checksum)
                first_age.append(float(clock["shownAt"]) - float(clock["burnedMs"]))
            first_second.append(glass_to_glass(page, VIDEO, 1.0).median)
        finally:
            page.close()
        time.sleep(0.5)  # joins spread over the GOP
    print(
        f"{name} joins: first frame {first_frame} ms after the POST ({page_start} ms after the page's start), its "
        f"latency {first_age} ms; first-second latency {first_second} ms",
        flush=True,
    )
    return IngestJoins(name, first_frame, first_age, first_second, 1000, page_start)


def ingest_webrtc_rows(tmp: Path, settle: float, seconds: float, joins: int) -> tuple[list[Row], list[IngestJoins]]:
    rows: list[Row] = []
    join_rows: list[IngestJoins] = []
    quiet = {"screenshots": {"enabled": False}}
    webrtc_sources: list[tuple[str, str, dict[str, Any], Any, float]] = [
        (
            "WHIP from the publish page (Chromium, the clock camera; OpenH264 + Opus) → ingest → WHEP in the player "
            "page (format=webrtc)",
            "WHIP (publish page) → ingest",
            {"source": WHIP_PROTOCOLS},
            ingest_whip_source,
            300,
        ),
        (
            "RTMP push (clock publisher, x264 zerolatency, no B-frames) → ingest (WHEP feeder: feed → FFmpeg copy + "
            "AAC → Opus → RTP → streamops-webrtc) → WHEP in the player page (format=webrtc)",
            "RTMP → ingest (feeder)",
            {},
            ingest_rtmp_source,
            500,
        ),
    ]
    for name, short, config, source, target in webrtc_sources:
        with (
            ingest_webrtc_stand(tmp / f"ingest-webrtc-{time.monotonic_ns()}", **quiet, **config) as stand,
            source(stand),
        ):
            sample, note = measure_ingest_webrtc(stand, settle, seconds)
            print(f"{name}: {sample.summary()}; {note}", flush=True)
            rows.append(Row(name, sample, target, note))
            join_rows.append(measure_ingest_joins(stand, short, joins))
            print(f"  ingest: {stand.status().get('webrtc')}; component: {stand.component_status()}", flush=True)
    name = (
        "WHIP from the publish page → ingest (the WHIP session's FFmpeg: LL-HLS, 200 ms parts) → LL-HLS in the player "
        "page (format=hls, hls.js lowLatencyMode)"
    )
    with (
        ingest_webrtc_stand(
            tmp / f"ingest-llhls-{time.monotonic_ns()}", source=WHIP_PROTOCOLS, hls={"latencyMode": "low"}, **quiet
        ) as stand,
        ingest_whip_source(stand, whep=False),
    ):
        sample = measure_ingest_hls(stand, settle, seconds)
        print(f"{name}: {sample.summary()}", flush=True)
        rows.append(Row(name, sample, 2000))
    return rows, join_rows


def ingest_webrtc_section(
    rows: list[Row], joins: list[IngestJoins], args: argparse.Namespace, load_before: str
) -> list[str]:
    lines = [
        INGEST_HEADING,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC} on {platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"commit {commit()}; /proc/loadavg before: {load_before}, after: {loadavg()}; headless Chromium "
        f"{browser_version()} from Debian, streamops-webrtc as hack/build-webrtc.sh builds it.",
        "",
        "Each row on a fresh `streamops worker ingest` with `webrtc` (it runs streamops-webrtc, the WHIP session's "
        "FFmpeg reading the component's SDP and, for other sources, the WHEP feeder), a fresh Chromium and a network "
        "namespace whose only interface is lo (devtools.media.ingest_webrtc): every ICE candidate of every offer and "
        "answer checked to be a host candidate on 127.0.0.0/8, no STUN/TURN. Publisher and viewers are the product's "
        f"own pages under the path prefix: the publish page (the stream key typed in and Start pressed: WHIP with "
        f"Authorization: Bearer) and the player page, sampled for {args.seconds:.0f} s after {args.settle:.0f} s of "
        "play. The WHIP camera is Chromium's fake device reading the clock Y4M (devtools.media.webrtc_camera, "
        "rewritten every 4 ms: up to 4 ms high); the RTMP row's publisher is the clock publisher of the first "
        "section (640x360 30 fps, 1 s GOP). Screenshots off.",
        "",
        *webrtc_table(rows),
    ]
    lines += [
        "",
        f"Joining: {args.joins} fresh player pages (format=webrtc) per source, one after another (0.5 s apart): from "
        "the WHEP POST (offer complete, ICE gathered) to the first picture presented (the page's own "
        "streamopsPlayer.firstFrame: requestVideoFrameCallback's expectedDisplayTime), and from the page's start "
        "(navigation, scripts, ICE gathering and the POST included); the clock in that first picture (read in its "
        "requestVideoFrameCallback by a hook installed before the page's scripts: how far in the past the GOP cache "
        "starts a joiner), then glass-to-glass over its first second of play.",
        "",
        "| source | joins | WHEP POST → first picture: median | p95 | max | page start → first picture: median "
        "| first picture's latency: median | max | latency in the first second: median of the joins | worst join "
        "| target (POST → picture, p95) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for join in joins:
        ff, fs, age = join.first_frame_ms, join.first_second_ms, join.first_picture_age_ms or [float("nan")]
        verdict = f"≤ {join.target_ms / 1000:.1f} s " + ("✅" if quantile(ff, 95) <= join.target_ms else "❌")
        lines.append(
            f"| {join.name} | {len(ff)} | {statistics.median(ff) / 1000:.3f} s | {quantile(ff, 95) / 1000:.3f} s | "
            f"{max(ff) / 1000:.3f} s | {statistics.median(join.page_start_ms) / 1000:.3f} s | "
            f"{statistics.median(age) / 1000:.3f} s ({len(join.first_picture_age_ms)} read) | "
            f"{max(age) / 1000:.3f} s | {statistics.median(fs) / 1000:.3f} s | {max(fs) / 1000:.3f} s | {verdict} |"
        )
    raw = "; ".join(f"{r.name}: {r.sample.summary()}" + (f"; {r.note}" if r.note else "") for r in rows)
    lines += ["", f"Raw: {raw}.", ""]
    return lines


# --- the report -------------------------------------------------------------------------------------


def hls_rows(tmp: Path, browser: Browser, settle: float, seconds: float) -> list[Row]:
    rows: list[Row] = []
    scenarios: list[tuple[str, Any, str, float | None]] = [
        (
            "streamops, standard HLS (CMAF, 2 s segments), hls.js 2 segments behind",
            lambda: ingest_source(tmp),
            "",
            6000,
        ),
        (
            "streamops, LL-HLS (200 ms parts, 2 s segments), hls.js lowLatencyMode",
            lambda: ingest_source(tmp, hls={"latencyMode": "low"}),
            "",
            2000,
        ),
        ("streamops, DASH (2 s segments), dash.js", lambda: ingest_source(tmp, dash=True), "?format=dash", None),
        (
            "streamops, LL-DASH (200 ms chunks, 2 s segments), dash.js low-latency mode",
            lambda: ingest_source(tmp, dash=True, dashLatencyMode="low"),
            "?format=dash",
            2000,
        ),
        (
            "nginx-rtmp HLS (1 s fragments, 3 s playlist), hls.js 2 segments behind",
            lambda: nginx_source(tmp),
            "",
            None,
        ),
    ]
    for name, source, query, target in scenarios:
        with source() as url:
            sample = measure(browser, url + query, settle, seconds)
        print(f"{name}: {sample.summary()}", flush=True)
        rows.append(Row(name, sample, target))
    return rows


def hls_section(rows: list[Row], args: argparse.Namespace, load_before: str) -> list[str]:
    peer = rows[-1].sample.median
    lines = [
        "# Glass-to-glass latency",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC} on {platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"commit {commit()}; /proc/loadavg before: {load_before}, after: {loadavg()}; headless Chromium "
        f"{browser_version()} from Debian, hls.js and dash.js as pinned in player/package-lock.json.",
        "",
        "Clock publisher (wall clock burned into every frame) 640x360 30 fps x264 zerolatency 1 s GOP + AAC, RTMP "
        f"push; each row a fresh server and page, sampled for {args.seconds:.0f} s after {args.settle:.0f} s of play. "
        "Latency = the picture's display time in the browser − the time burned into it.",
        "",
        "| row | median | p95 | vs nginx-rtmp HLS | stalls | frames read | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        s = row.sample
        verdict = (
            "—"
            if row.target_ms is None
            else f"≤ {row.target_ms / 1000:.1f} s " + ("✅" if s.median <= row.target_ms else "❌")
        )
        lines.append(
            f"| {row.name} | {s.median / 1000:.2f} s | {s.p95 / 1000:.2f} s | {s.median / peer:.2f}× | {s.waiting} | "
            f"{s.decoded}/{s.presented} | {verdict} |"
        )
    lines += ["", "Raw: " + "; ".join(f"{r.name}: {r.sample.summary()}" for r in rows) + ".", ""]
    return lines


SECTIONS = ("hls", "webrtc", "ingest-webrtc")  # the report's order
HEADINGS = {"webrtc": WEBRTC_HEADING, "ingest-webrtc": INGEST_HEADING}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="sampling window per row")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds of play before sampling")
    parser.add_argument(
        "--rows",
        choices=("all", *SECTIONS),
        default="all",
        help="which rows (the others stay in --out as they are)",
    )
    parser.add_argument("--joins", type=int, default=10, help="WebRTC: fresh viewers per source for the join times")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latency.md")
    args = parser.parse_args()

    wanted = SECTIONS if args.rows == "all" else (args.rows,)
    measured: dict[str, list[str]] = {}
    samples: list[LatencySample] = []
    with tempfile.TemporaryDirectory(prefix="streamops-latency-") as d:
        tmp = Path(d)
        if "hls" in wanted:
            load_before = loadavg()
            with Browser() as browser:
                hls = hls_rows(tmp, browser, args.settle, args.seconds)
            measured["hls"] = hls_section(hls, args, load_before)
            samples += [r.sample for r in hls]
        if "webrtc" in wanted:
            load_before = loadavg()
            webrtc, joins = webrtc_rows(tmp, args.settle, args.seconds, args.joins)
            measured["webrtc"] = webrtc_section(webrtc, joins, args, load_before)
            samples += [r.sample for r in webrtc]
        if "ingest-webrtc" in wanted:
            load_before = loadavg()
            ingest, ingest_joins = ingest_webrtc_rows(tmp, args.settle, args.seconds, args.joins)
            measured["ingest-webrtc"] = ingest_webrtc_section(ingest, ingest_joins, args, load_before)
            samples += [r.sample for r in ingest]

    previous = args.out.read_text() if args.out.exists() else ""
    report = merged_report(previous, measured, HEADINGS, SECTIONS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0 if all(s.frames for s in samples) else 1


def browser_version() -> str:
    out = subprocess.run(["/usr/lib/chromium/chromium", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().removeprefix("Chromium ").split()[0] if out.returncode == 0 else "?"


if __name__ == "__main__":
    sys.exit(main())

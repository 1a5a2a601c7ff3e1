"""The ingest's media routes (aiohttp), in groups, each given the parts it serves (the worker wires
them onto its two faces: worker.apps; the probes, /status and /metrics are worker_http.py's): the
live feed and the transcoded feed (MPEG-TS, chunked, 503 while not live), on a primary that relays
its backup the uplink and the loopback relay feed, the viewer sessions; HLS (standard and LL-HLS,
playlists also with `?get_duration_sec=true`: segment_durations.py) and DASH of the session on air,
the screenshot, the players' clock and the player page (WHIP and WHEP: webrtc/routes.py). Media
paths answer at / and under the path prefix, and at both also under `/t/<token>/` (a signed URL:
docs/design/playback.md); every playback route goes through the playback gate (playback_access.py:
tokens, request and viewer counts). What is served changes at every switch (on_air.py), so it is
read from ServedMedia per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from aiohttp import web

from streamops.contract.cache_policy import Kind
from streamops.contract.decimal_text import decimal
from streamops.contract.ingest import (
    BACKUP_UPLINK_PATH,
    CLOCK_PATH,
    DASH_MANIFEST,
    FEED_PATH,
    HANDOVER_YIELD_PATH,
    HLS_CMAF_PLAYLIST,
    HLS_MPEGTS_PLAYLIST,
    SCREENSHOT_PATH,
    TRANSCODED_FEED_PATH,
    VIEWERS_PATH,
    IngestConfig,
    PlayerSettings,
)
from streamops.contract.playback_token import Refusal
from streamops.media.ingest import cache_headers
from streamops.media.ingest.commands import DASH_CLOCK_URL, LL_VARIANT, ll_renditions, renditions
from streamops.media.ingest.continuity import DASH_MANIFEST_NAME, Continuity
from streamops.media.ingest.dash_chunks import GrowingSegments
from streamops.media.ingest.dash_chunks import is_segment as is_dash_segment
from streamops.media.ingest.encrypted_hls import KEY_PATH, EncryptedHls, stream_key_ring
from streamops.media.ingest.encryption import KeyRing
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.hls_timeline import INIT_PREFIX, SEGMENT_PREFIX
from streamops.media.ingest.llhls.packager import BLOCKING_TARGET_DURATIONS, LlHlsPackager, PlaylistRequestError
from streamops.media.ingest.llhls.playlist import INIT_URI, part_number, segment_number
from streamops.media.ingest.load_caps import HeldFileResponse, LoadCaps, Refused
from streamops.media.ingest.on_air import RELAY_FEED_PATH
from streamops.media.ingest.playback_access import TOKEN_ROUTE, PlaybackGate
from streamops.media.ingest.player.broadcast import add_broadcast_routes
from streamops.media.ingest.player.page import IceServer, PlayerOptions, add_player_routes
from streamops.media.ingest.player_settings import PageSettings
from streamops.media.ingest.segment_durations import wants_durations, with_durations
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.viewers import RequestKind
from streamops.media.ingest.webrtc.commands import serves_whep, takes_whip
from streamops.media.ingest.webrtc.ice_servers import IceServersFile, new_session_id
from streamops.media.ingest.webrtc.routes import token_session_end

T = TypeVar("T")

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".ts": "video/mp2t",
}


def media_prefixes(config: IngestConfig) -> list[str]:
    """Where the public face serves media: at / and under the path prefix an Ingress or HTTPRoute
    routes with (no rewrite needed); each also with a token segment (playback routes only)."""
    return list(dict.fromkeys(("", config.path_prefix)))


def add_feed_routes(app: web.Application, served: ServedMedia, caps: LoadCaps) -> None:
    """FEED_PATH and TRANSCODED_FEED_PATH: the feeds of the source on air, each reader within `caps`."""

    async def feed(request: web.Request) -> web.StreamResponse:
        hub = served.transcoded_feed if request.path == TRANSCODED_FEED_PATH else served.feed
        # Not while silent either: what is cached was sent before the silence, and a consumer
        # rejoining then (a recorder whose FFmpeg timed out) would record it a second time.
        if not hub.live or not served.feed.sending:
            return web.Response(status=503, text="stream is not live")
        try:
            with caps.feed_reader(request):
                return await stream_feed(hub, request)
        except Refused as e:
            return caps.refusal(e)

    app.router.add_get(FEED_PATH, feed)
    app.router.add_get(TRANSCODED_FEED_PATH, feed)


class BackupUplink(Protocol):
    """What the relay routes use of on_air.OnAir."""

    @property
    def uplink(self) -> FeedHub:
        """The backup's feed as it arrives."""
        ...

    async def receive_uplink(self, request: web.Request) -> web.StreamResponse:
        """BACKUP_UPLINK_PATH: the backup's signed uplink, read into `uplink`."""
        ...

    async def yield_air(self, request: web.Request) -> web.Response:
        """HANDOVER_YIELD_PATH: a planned switchover's backup on air (a lease)."""
        ...


def add_relay_routes(app: web.Application, on_air: BackupUplink, loopback_host: str) -> None:
    """On a primary that relays its backup: the backup's uplink (BACKUP_UPLINK_PATH), and its feed as
    it arrives (RELAY_FEED_PATH) for this worker's relay session only, which reads it at
    `loopback_host` with the worker credential (the internal face's guard asks for it: loopback is
    the whole node's with worker.hostNetwork, issue 52 finding 8)."""
    uplink = on_air.uplink

    async def relay_feed(request: web.Request) -> web.StreamResponse:
        if request.remote not in (loopback_host, "127.0.0.1", "::1"):
            raise web.HTTPForbidden()
        if not uplink.live:
            return web.Response(status=503, text="no backup feed")
        return await stream_feed(uplink, request)

    app.router.add_post(BACKUP_UPLINK_PATH, on_air.receive_uplink)
    app.router.add_post(HANDOVER_YIELD_PATH, on_air.yield_air)
    app.router.add_get(RELAY_FEED_PATH, relay_feed)


def add_viewers_route(app: web.Application, gate: PlaybackGate) -> None:
    """VIEWERS_PATH: this stream's viewer sessions (docs/design/playback.md), for the operator."""

    async def viewers(_: web.Request) -> web.Response:
        return web.json_response(gate.viewers_document(), headers={"Cache-Control": "no-store"})

    app.router.add_get(VIEWERS_PATH, viewers)


def add_playback_routes(
    app: web.Application,
    config: IngestConfig,
    gate: PlaybackGate,
    served: ServedMedia,
    screenshot: Path,
    ice_servers: IceServersFile,
    page_settings: PageSettings | None = None,
    continuity: Continuity | None = None,
    key_ring: KeyRing | None = None,
) -> None:
    """HLS, DASH, the screenshot, the clock and the player page at each of media_prefixes() and under
    its token segment, through the playback gate; `ice_servers`: the player pages' STUN/TURN servers;
    `page_settings`: the page's projection now (POST /player-settings; None: regular); `continuity`:
    the HLS served across sessions (the worker's; None: one of its own); `key_ring`: an encrypted
    stream's keys (the worker's; None: one of its own)."""
    files = MediaFiles(
        config, served, screenshot, continuity or Continuity(config, served, logging.getLogger("ingest"))
    )
    guard = gate.guard
    hls = gate.guard_by_name(hls_kind, files.hls)
    encrypted = encrypted_hls(config, files.continuity, gate, key_ring)
    if encrypted is not None:  # spec.playback.encryption: segments and parts encrypted as served
        hls = gate.guard_by_name(hls_kind, encrypted.wrap(files.hls))
    dash = gate.guard_by_name(dash_kind, files.dash)
    dash_period = gate.guard_by_name(dash_kind, files.dash_period)

    cache_headers.install(app, config)  # Cache-Control on every answer of the face (a CDN in front)

    def current_settings() -> PlayerSettings:
        return page_settings.current if page_settings is not None else PlayerSettings()

    options = page_options(config, ice_servers, current_settings)
    for prefix in (p for base in media_prefixes(config) for p in (base, base + TOKEN_ROUTE)):
        app.router.add_get(prefix + "/hls/{variant}/{name}", hls)
        app.router.add_get(prefix + "/hls/{variant}/{rendition}/{name}", hls)
        app.router.add_get(prefix + SCREENSHOT_PATH, guard(RequestKind.OTHER, files.screenshot))
        app.router.add_get(prefix + "/dash/{name}", dash)
        app.router.add_get(prefix + "/dash/{period}/{name}", dash_period)
        if encrypted is not None:  # its keys, behind the same gate as the media
            app.router.add_get(prefix + KEY_PATH, guard(RequestKind.OTHER, encrypted.key))
        app.router.add_get(prefix + CLOCK_PATH, guard(RequestKind.OTHER, clock))
        add_player_routes(app, prefix, options, guard, publish=TOKEN_ROUTE not in prefix)
        add_broadcast_routes(app, prefix, current_settings, guard)


def encrypted_hls(
    config: IngestConfig, continuity: Continuity, gate: PlaybackGate, ring: KeyRing | None = None
) -> EncryptedHls | None:
    """`ring`: the stream's keys (the worker's, which a handover hands on; None: one of its own)."""
    ring = ring if ring is not None else stream_key_ring(config, continuity, gate)
    return EncryptedHls(ring, continuity) if ring is not None else None


def page_options(
    config: IngestConfig, ice_servers: IceServersFile, settings: Callable[[], PlayerSettings]
) -> Callable[[web.Request], PlayerOptions]:
    """The player and publish pages' options, at each page request: a TURN credential of its own
    (the file's as it is now), which ends no later than the page's token (issue 52, finding 10: it
    outlived it; the publish page gets none), and the projection now (`settings`)."""

    def options(request: web.Request) -> PlayerOptions:
        end = token_session_end(config, request) if "token" in request.match_info else None
        servers = (
            ice_servers.public_servers if isinstance(end, Refusal) else ice_servers.servers_for(new_session_id(), end)
        )
        return player_options(config, servers, settings())

    return options


# Video codecs FFmpeg 7.1 writes into no standard MPEG-TS (AV1: AOM's carriage is not implemented;
# the workers' own feed labels it privately, hack/ffmpeg/patches/mpegts-av1-feed.patch).
CODECS_WITHOUT_MPEGTS = frozenset({"av1"})
LEGACY_INIT = "init.mp4"  # FFmpeg's name of a session's init segment (the served playlists name init-<n>.mp4)
MPEGTS_REFUSED = "the source's video is {codec}, which HLS carries in fMP4 only: play hls/cmaf/index.m3u8"


class MediaFiles:
    """The HLS, DASH and screenshot handlers: what they serve is `served`'s at each request."""

    def __init__(self, config: IngestConfig, served: ServedMedia, screenshot: Path, continuity: Continuity) -> None:
        self.config, self.served, self.screenshot_path = config, served, screenshot
        self.continuity = continuity
        self.allowed_renditions = {r.name for r in renditions(config)}
        self.ll_names = set(ll_renditions(config))
        self.growing = GrowingSegments()  # low-latency DASH's segments being written

    async def hls(self, request: web.Request) -> web.StreamResponse:
        response = await self._hls(request)
        if self.continuity.moved.is_set():
            # A released predecessor: the player's next request goes through the Service (to the
            # successor), not down this kept-alive connection, which stays on this Pod.
            response.force_close()
        return response

    async def _hls(self, request: web.Request) -> web.StreamResponse:
        variant, name = request.match_info["variant"], request.match_info["name"]
        rendition = request.match_info.get("rendition")
        if variant not in ("cmaf", "ts") or "/" in name or name.startswith("."):
            raise web.HTTPNotFound()
        if rendition is not None and rendition not in self.allowed_renditions:
            raise web.HTTPNotFound()
        if variant == "ts" and not self.allowed_renditions and self.served.facts.video_codec in CODECS_WITHOUT_MPEGTS:
            raise web.HTTPConflict(text=MPEGTS_REFUSED.format(codec=self.served.facts.video_codec))
        continuity = self.continuity
        if variant == LL_VARIANT and (rendition or "") in self.ll_names:
            if (rendition or "") in continuity.packagers:
                return await low_latency_hls(request, continuity, rendition or "", name)
            raise web.HTTPNotFound()
        key = (variant, rendition or "")
        if key in continuity.standard:
            return await self.continued(request, key, name)
        # The multivariant playlist of a ladder: the session on air's (or a predecessor's).
        if name != "index.m3u8":
            raise web.HTTPNotFound()
        if self.served.dir is None:
            if continuity.multivariant is None:
                raise web.HTTPNotFound()
            return web.Response(body=continuity.multivariant.encode(), headers={"Content-Type": CONTENT_TYPES[".m3u8"]})
        path = self.served.dir / variant / name
        if wants_durations(request.query):
            return playlist_with_durations(path)
        if not path.is_file():
            raise web.HTTPNotFound()
        return media_file(path)

    async def continued(self, request: web.Request, key: tuple[str, str], name: str) -> web.StreamResponse:
        """A standard variant's media playlist across sessions (continuity.py), or a file it lists
        (on a handover's successor, one its predecessor listed since the last poll: held)."""
        continuity = self.continuity
        if name == "index.m3u8":
            if continuity.moved.is_set():
                # A released predecessor's playlist stands still while its successor's goes on: a
                # player that read the successor's must not get this one on a kept-alive connection
                # (the numbers would go back).
                return moved_on(request)
            served = continuity.playlist(key)
            if served is None:
                raise web.HTTPNotFound()
            text, modified = served
            if wants_durations(request.query):
                text = with_durations(text)
            response = web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPES[".m3u8"]})
            response.last_modified = modified
            return response
        if name == LEGACY_INIT and continuity.dir is not None:
            # Players and tests that ask for the session's own init segment by FFmpeg's name.
            path: Path | None = continuity.dir / key[0] / key[1] / name
        else:
            timeout = BLOCKING_TARGET_DURATIONS * self.config.hls.segment_seconds  # as a blocking reload's
            path = await held_segment(continuity, key, name, timeout)
        if (path is None or not path.is_file()) and continuity.moved.is_set():
            return moved_on(request)  # one its successor listed: a released predecessor never has it
        if path is None or not path.is_file():
            raise web.HTTPNotFound()
        return media_file(path)

    async def dash(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == DASH_CLOCK_URL and self.config.dash:  # the MPD's UTCTiming, relative to it
            return await clock(request)
        if name == DASH_MANIFEST_NAME and self.continuity.dash_continued:  # also a successor's, mirrored
            served = self.continuity.dash_manifest()
            if served is None:
                raise web.HTTPNotFound()
            response = web.Response(body=served[0].encode(), headers={"Content-Type": CONTENT_TYPES[".mpd"]})
            response.last_modified = served[1]
            return response
        served_dir = self.served.dir
        if served_dir is None or not self.config.dash or name.startswith(".") or "/" in name:
            raise web.HTTPNotFound()
        path = served_dir / "dash" / name
        if self.config.dash_low_latency and is_dash_segment(name):  # maybe still being written
            return await self.growing.serve(request, path, self.config.hls.segment_seconds)
        if not path.is_file():
            raise web.HTTPNotFound()
        return media_file(path)

    async def dash_period(self, request: web.Request) -> web.StreamResponse:
        """A file of one session's DASH Period, under its BaseURL (continuity.py, dash_periods.py)."""
        name = request.match_info["name"]
        if not self.continuity.dash_continued or name.startswith(".") or "/" in name or not name.endswith(".m4s"):
            raise web.HTTPNotFound()
        path = self.continuity.dash_file(request.match_info["period"], name)
        if path is None or not path.is_file():
            raise web.HTTPNotFound()
        response = media_file(path)
        # Immutable, as /dash/<segment> is (cache_headers.py tells by the path: the Period's folder hides it).
        response[cache_headers.CACHE_KIND] = Kind.INIT if name.startswith("init") else Kind.DASH_SEGMENT
        return response

    async def screenshot(self, _: web.Request) -> web.StreamResponse:
        if not self.screenshot_path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(self.screenshot_path, headers={"Content-Type": "image/jpeg"})


def hls_kind(name: str) -> RequestKind:
    """What an HLS file name is: a playlist, an LL-HLS part, the init segment or a media segment."""
    if name.endswith(".m3u8"):
        return RequestKind.PLAYLIST
    if part_number(name) is not None:
        return RequestKind.PART
    if name.startswith("init"):
        return RequestKind.INIT
    return RequestKind.SEGMENT


def dash_kind(name: str) -> RequestKind:
    """What a DASH file name is: the manifest, the clock, or a segment (the init ones included)."""
    if name == DASH_CLOCK_URL:
        return RequestKind.OTHER
    return RequestKind.MANIFEST if name.endswith(".mpd") else RequestKind.DASH


async def low_latency_hls(
    request: web.Request, continuity: Continuity, rendition: str, name: str
) -> web.StreamResponse:
    """LL-HLS: the playlist (blocking reload: _HLS_msn, _HLS_part; delta: _HLS_skip), parts from
    memory (the preload-hinted one once written), segments and the init segment from disk; the
    earlier sessions' segments and init segments from theirs (continuity.py)."""
    packager = continuity.packagers[rendition]
    if name == "index.m3u8":
        try:
            msn, part = (_query_int(request, key) for key in ("_HLS_msn", "_HLS_part"))
            if part is not None and msn is None:
                raise PlaylistRequestError("_HLS_part without _HLS_msn")
            skip = request.query.get("_HLS_skip") in ("YES", "v2")
            text, packager = await blocking_playlist(continuity, rendition, msn, part, skip)
            if text is None and msn is None and continuity.mirroring:
                # A successor whose mirror has no segment yet: the predecessor's first comes.
                text = await held(continuity, rendition, packager.blocking_timeout(),
                                  lambda: continuity.packagers[rendition].playlist(None, None, skip),
                                  lambda: continuity.mirroring)  # fmt: skip
                packager = continuity.packagers[rendition]
        except PlaylistRequestError as e:
            raise web.HTTPBadRequest(text=str(e)) from None
        if text is None and msn is not None and continuity.moved.is_set():
            return moved_on(request)
        if text is None:
            return web.Response(status=503 if msn is not None else 404, text="no such playlist yet")
        if wants_durations(request.query):
            text = with_durations(text)
        response = web.Response(text=text, content_type="application/vnd.apple.mpegurl")
        response.last_modified = packager.updated_at  # as FileResponse gives the standard playlists
        return response
    if name in (INIT_URI, packager.init_uri) and packager.init is not None:
        return web.Response(body=packager.init.data, content_type="video/mp4")
    if (number := part_number(name)) is not None:
        body = await held(continuity, rendition, packager.blocking_timeout(),
                          _now(lambda: continuity.part(rendition, number)),
                          lambda: continuity.part_may_come(rendition, number))  # fmt: skip
        packager = continuity.packagers.get(rendition, packager)
        if body is None and continuity.moved.is_set() and number >= packager.next_part:
            return moved_on(request)  # a part a released predecessor never writes: its successor does
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="video/iso.segment")
    earlier = await held_segment(continuity, ("cmaf", rendition), name, packager.blocking_timeout())
    if earlier is not None and earlier.is_file():
        return media_file(earlier)
    packager = continuity.packagers.get(rendition, packager)
    if name == packager.init_uri and packager.init is not None:  # held until its own session went on air
        return web.Response(body=packager.init.data, content_type="video/mp4")
    path = packager.dir / name
    if segment_number(name) is None or not path.is_file():
        raise web.HTTPNotFound()
    return media_file(path)


async def blocking_playlist(
    continuity: Continuity, rendition: str, msn: int | None, part: int | None, skip: bool
) -> tuple[str | None, LlHlsPackager]:
    """The packager on air's playlist once it has `msn`/`part` (across_switches)."""
    packager = continuity.packagers[rendition]
    if msn is None:
        return await packager.playlist(None, None, skip), packager
    return await across_switches(continuity, rendition, lambda p: p.playlist(msn, part, skip))


async def across_switches(
    continuity: Continuity, rendition: str, ask: Callable[[LlHlsPackager], Awaitable[T | None]]
) -> tuple[T | None, LlHlsPackager]:
    """What `ask` answers of the packager on air (a blocking reload, the preload-hinted part). One
    that waits across a switch (the session ended, or a successor's own session goes on air after
    the predecessor's window, or an adopted window's idle packager is replaced at the next poll) is
    answered by the packager that goes on air, within one blocking timeout in all. On a released
    predecessor (continuity.moved) it ends at once with None: its successor answers it."""
    packager = continuity.packagers[rendition]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + packager.blocking_timeout()
    while True:
        switch = continuity.switched  # set (and replaced) when another session goes on air
        waiter = asyncio.ensure_future(switch.wait())
        moved = asyncio.ensure_future(continuity.moved.wait())
        answer = asyncio.ensure_future(ask(packager))
        try:
            await asyncio.wait(
                {waiter, answer}, timeout=max(0.0, deadline - loop.time()), return_when="FIRST_COMPLETED"
            )
            if answer.done() and answer.result() is None and packager.ended and not switch.is_set():
                # Between sessions: the next one's packager goes on with the numbers (a released
                # predecessor has no next one).
                await asyncio.wait(
                    {waiter, moved}, timeout=max(0.0, deadline - loop.time()), return_when="FIRST_COMPLETED"
                )
        finally:  # answer.result() raises PlaylistRequestError (HTTP 400) through here
            waiter.cancel()
            moved.cancel()
            if not answer.done():
                answer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await answer
        if not answer.cancelled() and (answer.result() is not None or not switch.is_set()):
            return answer.result(), packager
        if not switch.is_set() or loop.time() >= deadline:
            return None, packager
        packager = continuity.packagers.get(rendition, packager)


def _now(get: Callable[[], T | None]) -> Callable[[], Awaitable[T | None]]:
    async def now() -> T | None:
        return get()

    return now


async def held(
    continuity: Continuity,
    rendition: str | None,
    timeout: float,
    attempt: Callable[[], Awaitable[T | None]],
    may_come: Callable[[], bool],
) -> T | None:
    """What `attempt` finds, tried again at each change of what is served — the LL-HLS packager on
    air (`rendition`'s) gains a part, another session goes on air, a handover's successor adopts its
    predecessor's window at its next poll (continuity.switched) — for as long as `may_come` says this
    ingest will have it, within `timeout` (a blocking timeout: never an unbounded wait; the request
    holds its load cap's slot meanwhile, as any blocking one). On a released predecessor it ends at
    once (its successor answers). None: not found."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await attempt()
        remaining = deadline - loop.time()
        if found is not None or remaining <= 0 or continuity.moved.is_set() or not may_come():
            return found
        events = [continuity.switched, continuity.moved]
        if rendition is not None and (packager := continuity.packagers.get(rendition)) is not None:
            events.append(packager.changes)
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, timeout=remaining, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()


async def held_segment(continuity: Continuity, key: tuple[str, str], name: str, timeout: float) -> Path | None:
    """The file behind a served segment or init URI of playlist `key`; on a handover's successor a
    segment its predecessor listed since the last poll (or is writing) is held until mirrored, and
    so is that segment's init segment when it begins a session (named after it: init-<n>.mp4)."""
    number = served_number(name)
    return await held(continuity, None, timeout, _now(lambda: continuity.file(key, name)),
                      lambda: number is not None and continuity.segment_may_come(key, number))  # fmt: skip


def served_number(name: str) -> int | None:
    """The number in a served segment URI (seg-<n>.ts|.m4s) or init segment URI (init-<n>.mp4: the
    first segment's of its session, hls_timeline.extend), None for any other name."""
    for prefix, suffixes in ((SEGMENT_PREFIX, ("ts", "m4s")), (INIT_PREFIX, ("mp4",))):
        stem, dot, suffix = name.removeprefix(prefix).partition(".")
        if name.startswith(prefix) and dot and suffix in suffixes:
            return decimal(stem)
    return None


def moved_on(request: web.Request) -> web.Response:
    """What a released predecessor answers for what only its successor will have: the same URL
    again, on a new connection (through the Service, which no longer routes to this Pod)."""
    response = web.Response(status=307, headers={"Location": str(request.rel_url)})
    response.force_close()
    return response


async def clock(_: web.Request) -> web.Response:
    """The players' time source (dash.js's UTCTiming, http-xsdate): never a public time server. At
    <prefix>/time and, for a low-latency MPD's relative UTCTiming, <prefix>/dash/time."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return web.Response(text=now, headers={"Cache-Control": "no-store"})


def media_headers(path: Path) -> dict[str, str]:
    # Cache-Control: cache_headers.py, for every answer.
    return {"Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream")}


def playlist_with_durations(path: Path) -> web.Response:
    """One of FFmpeg's playlists (or the multivariant one) answered to `?get_duration_sec=true`
    (segment_durations.py), with the Last-Modified of the very file read: FFmpeg replaces a live
    playlist by a rename, so the descriptor's stat and its text belong together."""
    try:
        with path.open("rb") as f:
            modified = os.fstat(f.fileno()).st_mtime
            text = f.read().decode()
    except (FileNotFoundError, IsADirectoryError):
        raise web.HTTPNotFound() from None
    response = web.Response(text=with_durations(text), headers=media_headers(path))
    response.last_modified = modified
    return response


def media_file(path: Path) -> web.FileResponse:
    # FileResponse sends Last-Modified too: the player page judges a manifest's freshness by it. Held:
    # the public cap's slot lasts until the file is sent (load_caps.py).
    response = HeldFileResponse(path, headers=media_headers(path))
    if path.suffix == ".m3u8" and _ended(path):  # cache_headers.py reads the bodies it has, not files
        response[cache_headers.CACHE_KIND] = Kind.ENDED_PLAYLIST
    return response


def _ended(playlist: Path) -> bool:
    """The playlist ends with #EXT-X-ENDLIST (its last bytes: FFmpeg writes it last)."""
    try:
        with playlist.open("rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 64))
            return cache_headers.ENDLIST in f.read()
    except OSError:
        return False


def player_options(
    config: IngestConfig, ice_servers: tuple[IceServer, ...] = (), settings: PlayerSettings | None = None
) -> PlayerOptions:
    """What the player page plays: paths relative to the page (at the prefix, like the media);
    `ice_servers`: the STUN/TURN servers of the pages' peer connections (webrtc/ice_servers.py);
    `settings`: how it shows the picture (player_settings.py; None: the defaults)."""
    hls = config.hls
    playlist = HLS_CMAF_PLAYLIST if hls.cmaf else HLS_MPEGTS_PLAYLIST
    return PlayerOptions(
        stream=config.stream,
        hls_path=playlist.lstrip("/"),
        dash_path=DASH_MANIFEST.lstrip("/") if config.dash else None,
        low_latency=hls.low_latency,
        poster_path=SCREENSHOT_PATH.lstrip("/") if config.screenshots.enabled else None,
        whep=serves_whep(config),
        whip=takes_whip(config),
        ice_servers=ice_servers,
        projection=(settings or PlayerSettings()).projection,
    )


def _query_int(request: web.Request, key: str) -> int | None:
    value = request.query.get(key)
    if value is None:
        return None
    number = decimal(value)
    if number is None:
        raise PlaylistRequestError(f"{key} must be a non-negative integer")
    return number


# --- feed readers ------------------------------------------------------------------------------------


async def stream_feed(hub: FeedHub, request: web.Request) -> web.StreamResponse:
    """One feed reader's response, for as long as the hub's session lasts (or the reader stays)."""
    response = web.StreamResponse(headers={"Content-Type": "video/mp2t", "Cache-Control": "no-cache"})
    if request.version >= (1, 1) and request.transport is not None:
        # The hub writes each batch to the transport itself (ChunkedSink): no task wake-up and
        # no aiohttp write per chunk and reader.
        response.enable_chunked_encoding()
        await response.prepare(request)  # the headers go at once (a StreamResponse's)
        sink = ChunkedSink(request.transport)
        hub.attach(sink)
        try:
            await sink.done
        finally:
            hub.detach(sink)
        return response  # aiohttp ends the chunked body
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        async for chunk in hub.subscribe():
            await response.write(chunk)
    return response


class ChunkedSink:
    """A feed reader's HTTP/1.1 response body, written by the FeedHub straight to its transport in
    chunked encoding (the response's headers said so and went out already): a feed.FeedSink."""

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def send(self, chunk: bytes) -> None:
        self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))

    def backlog(self) -> int:
        return self.transport.get_write_buffer_size()

    def closed(self) -> bool:
        return self.transport.is_closing()

    def end(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

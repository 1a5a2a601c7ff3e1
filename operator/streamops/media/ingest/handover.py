"""Both sides of a make-before-break handover of a live ingest, on the internal face with the
stream's worker credential (docs/design/handover.md):

- the predecessor answers HANDOVER_STATE_PATH (HandoverState: what it serves, continuity.py's
  timelines, an encrypted stream's content keys) and HANDOVER_FILES_PATH (the bytes of each
  segment and init segment listed), and on HANDOVER_RELEASE_PATH stops taking media — its
  publishers cut, new ones refused, the pull stopped — while it goes on serving what it has (its
  playlists never end);
- the successor, on HANDOVER_FOLLOW_PATH, mirrors the predecessor's window and keeps following it
  (every FOLLOW_POLL_SECONDS) so that it serves the same playlists with the same numbers and bytes
  (encrypted, under the same keys: taken before the playlists that list them); its own first
  session then continues them (continuity.py: the mirrored window is its earlier sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from streamops.contract.ingest import (
    HANDOVER_FILES_PATH,
    HANDOVER_FOLLOW_PATH,
    HANDOVER_KEYS_MAX,
    HANDOVER_RELEASE_PATH,
    HANDOVER_STATE_PATH,
    HandoverDash,
    HandoverFollow,
    HandoverKey,
    HandoverPlaylist,
    HandoverReport,
    HandoverState,
)
from streamops.media.ingest.continuity import Continuity
from streamops.media.ingest.encryption import ContentKey, KeyRing, KeySpan
from streamops.media.ingest.llhls.playlist import segment_number

FOLLOW_POLL_SECONDS = 0.5
RELEASING_POLL_SECONDS = 0.1
COPIES_AT_ONCE = 4  # segment files fetched from the predecessor at a time
FILE_BYTES_MAX = 256 * 1024 * 1024  # a segment larger than this is not one of ours
ASK_TIMEOUT = aiohttp.ClientTimeout(total=10)
FAILURES_ALLOWED = 20  # polls in a row that fail (10 s) before following is given up
RELEASE_STOP_SECONDS = 10.0  # FFmpeg writes its last segment within this after SIGTERM


class Releasable(Protocol):
    """What a release stops (worker.IngestWorker)."""

    async def stop_taking_media(self) -> None:
        """Cut the publishers (or the pull), refuse new ones; return once the sessions ended."""
        ...

    async def hold_media(self, held: bool) -> None:
        """A successor takes no media while it follows (held), and takes it again after."""
        ...

    @property
    def live(self) -> bool: ...


class Handover:
    def __init__(
        self,
        continuity: Continuity,
        worker: Releasable,
        mirror_dir: Path,
        credential: Callable[[], dict[str, str]],
        log: logging.Logger,
        keys: KeyRing | None = None,
    ) -> None:
        """`mirror_dir`: where a successor keeps the predecessor's files (outside the sessions');
        `credential`: the headers presenting the stream's worker credential to the predecessor;
        `keys`: an encrypted stream's content keys (handed over with the window, in memory only)."""
        self.continuity, self.worker, self.mirror_dir, self.credential = continuity, worker, mirror_dir, credential
        self.log, self.keys = log, keys
        self.keys_left_out = 0
        self.following: HandoverFollow | None = None
        self.phase: str | None = None
        self.error: str | None = None
        self.release: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._release_task: asyncio.Task[None] | None = None
        self.mirrored_bytes = 0

    # --- what /status says --------------------------------------------------------------------------
    def report(self) -> HandoverReport | None:
        if self.following is None and self.release is None:
            return None
        phase = self.phase
        if phase in ("following", "caught-up") and self.continuity.dir is not None:
            phase = "on-air"  # its own session continues the mirrored window
        numbers = self.continuity.next_numbers()
        return HandoverReport.model_validate(
            {
                "predecessor_pod": self.following.predecessor_pod if self.following else None,
                "phase": phase,
                "last_media_sequence": max(numbers) - 1 if numbers else None,
                "release": self.release,
                "error": self.error,
            }
        )

    def taking_over(self) -> bool:
        """A successor that caught up and still follows: the operator labels it serving now and
        asks its predecessor to release next (control/livestream/handover.py), so a publisher that
        reaches it is the encoder coming back from the predecessor being released, or about to be.
        It takes media once it has read `released` (polled every RELEASING_POLL_SECONDS)."""
        return self.phase == "caught-up" and self._task is not None and not self._task.done()

    # --- the predecessor ------------------------------------------------------------------------------
    def state(self) -> HandoverState:
        playlists = self.continuity.exported()
        return HandoverState(
            playlists=playlists,
            dash=self.continuity.dash_exported(),
            multivariant=self.continuity.multivariant_text(),
            live=self.worker.live,
            release=self.release,  # type: ignore[arg-type]
            keys=exported_keys(self.keys, playlists) if self.keys is not None else None,
        )

    def file(self, variant: str, rendition: str, name: str) -> bytes | Path | None:
        """A file the state lists: a segment or an init segment of a served playlist."""
        if variant == "dash":  # rendition: the Period's key
            return self.continuity.dash_file(rendition, name) if DASH_FILE.match(name) else None
        key = (variant, rendition)
        path = self.continuity.file(key, name)
        if path is not None:
            return path
        packager = self.continuity.packagers.get(rendition) if variant == "cmaf" else None
        if packager is None:
            return None
        if name == packager.init_uri and packager.init is not None:
            return packager.init.data
        if segment_number(name) is not None:
            return packager.dir / name
        return None

    async def start_release(self) -> None:
        if self.release is not None:
            return  # idempotent
        self.release = "releasing"
        self.continuity.hold()
        self.log.info("handover: releasing (publishers cut, no new ones; serving goes on)")
        self._release_task = asyncio.create_task(self._release())

    async def _release(self) -> None:
        try:
            await asyncio.wait_for(self.worker.stop_taking_media(), RELEASE_STOP_SECONDS)
        except TimeoutError:
            self.log.warning("handover: the sessions did not end within %g s", RELEASE_STOP_SECONDS)
        self.continuity.refresh_all()
        self.release = "released"
        self.continuity.moved.set()  # its viewers' waiting requests go on at the successor (routes.py)
        self.log.info("handover: released")

    # --- the successor ------------------------------------------------------------------------------
    def follow(self, request: HandoverFollow) -> int:
        """200: following (now or already that predecessor); 409: another one."""
        if self.following is not None:
            return 200 if self.following.predecessor_url == request.predecessor_url else 409
        self.following, self.phase = request, "following"
        self.log.info("handover: following %s", request.predecessor_pod)
        self._task = asyncio.create_task(self._follow(request.predecessor_url.rstrip("/")))
        return 200

    async def _follow(self, base: str) -> None:
        await self.worker.hold_media(True)
        try:
            await self._following(base)
        finally:
            await self.worker.hold_media(False)  # its own media continues the window (or, failed, restarts it)

    async def _following(self, base: str) -> None:
        failures = 0
        copies = asyncio.Semaphore(COPIES_AT_ONCE)
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    state = await self._read_state(http, base)
                    await self._mirror(http, base, state, copies)
                    failures = 0
                except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as e:
                    failures += 1
                    self.error = f"reading the predecessor: {type(e).__name__}: {str(e)[:200]}"
                    if failures >= FAILURES_ALLOWED:
                        self.phase = "failed"
                        self.log.warning("handover: following failed: %s", self.error)
                        return
                    await asyncio.sleep(FOLLOW_POLL_SECONDS)
                    continue
                if self.continuity.dir is not None:
                    self.log.info("handover: an own session is on air; following ends")
                    return
                self._adopt_keys(state)  # before the playlists: a segment is never listed under a key of our own
                self.continuity.adopt(state.playlists, self.mirror_dir, state.multivariant)
                self.continuity.adopt_dash(state.dash, self.mirror_dir / DASH_MIRROR)
                self._forget(state)
                self.phase, self.error = "caught-up", None
                if state.release == "released":
                    self.log.info("handover: the predecessor released; its window is ours to continue")
                    return
                # Releasing: its encoder is being cut and retries now; take it as soon as released.
                await asyncio.sleep(RELEASING_POLL_SECONDS if state.release else FOLLOW_POLL_SECONDS)

    def _adopt_keys(self, state: HandoverState) -> None:
        if self.keys is None or not state.keys:
            return
        left_out = self.keys.adopt([adopted_span(k) for k in state.keys])
        if left_out > self.keys_left_out:  # counted, never shown: they are keys
            self.keys_left_out = left_out
            self.log.warning("handover: %d of the predecessor's content keys left out (they overlap ours)", left_out)

    async def _read_state(self, http: aiohttp.ClientSession, base: str) -> HandoverState:
        async with http.get(base + HANDOVER_STATE_PATH, headers=self.credential(), timeout=ASK_TIMEOUT) as resp:
            if resp.status != 200:
                raise ValueError(f"state: HTTP {resp.status}")
            body = await read_bounded(resp, STATE_BYTES_MAX, "state")
        try:
            return HandoverState.model_validate_json(body)
        except ValidationError as e:
            raise ValueError(f"state refused: {e.error_count()} problems") from None

    async def _mirror(
        self, http: aiohttp.ClientSession, base: str, state: HandoverState, copies: asyncio.Semaphore
    ) -> None:
        wanted = [w for w in listed_files(state.playlists, self.mirror_dir, state.dash) if not w[1].exists()]

        async def copy(variant: str, rendition: str, name: str, target: Path) -> None:
            async with copies:
                await self._copy(http, base, variant, rendition, name, target)

        await asyncio.gather(*(copy(*path, target) for path, target in wanted))

    async def _copy(
        self, http: aiohttp.ClientSession, base: str, variant: str, rendition: str, name: str, target: Path
    ) -> None:
        url = f"{base}{HANDOVER_FILES_PATH}/{variant}/{rendition or '-'}/{name}"
        async with http.get(url, headers=self.credential(), timeout=ASK_TIMEOUT) as resp:
            if resp.status != 200:
                raise ValueError(f"{variant}/{rendition}/{name}: HTTP {resp.status}")
            data = await read_bounded(resp, FILE_BYTES_MAX, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name("." + target.name)
        partial.write_bytes(data)
        partial.replace(target)
        self.mirrored_bytes += len(data)

    def _forget(self, state: HandoverState) -> None:
        """Mirrored files the predecessor no longer lists (they left its window) go."""
        listed = {target for _, target in listed_files(state.playlists, self.mirror_dir, state.dash)}
        if not self.mirror_dir.is_dir():
            return
        for path in self.mirror_dir.rglob("*"):
            if path.is_file() and not path.name.startswith(".") and path not in listed:
                path.unlink(missing_ok=True)

    async def stop(self) -> None:
        for task in (self._task, self._release_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


STATE_BYTES_MAX = 16 * 1024 * 1024  # a HandoverState at its bounds is ≈ 3 MB a playlist
DASH_MIRROR = "dash"  # under the mirror: each DASH Period's files in <key>/dash/
DASH_FILE = re.compile(r"^(init|chunk)-[0-9A-Za-z_-]+\.m4s$")  # FFmpeg's names (commands.dash_options)


def exported_keys(ring: KeyRing, playlists: list[HandoverPlaylist]) -> list[HandoverKey]:
    """The keys of every segment listed and of the one being written (made now if no viewer asked
    yet: the successor must list them under these), then every key kept, the newest
    HANDOVER_KEYS_MAX."""
    for p in playlists:
        numbers = [s.number for s in p.segments[:1] + p.segments[-1:]] + (
            [p.next_number] if p.next_number is not None else []
        )
        if numbers:
            ring.cover(min(numbers), max(numbers))
    return [
        HandoverKey(
            kid=s.key.kid, key=s.key.key.hex(), iv=s.key.iv.hex(), first_segment=s.first, segments=s.end - s.first
        )
        for s in ring.spans()[-HANDOVER_KEYS_MAX:]
    ]


def adopted_span(key: HandoverKey) -> KeySpan:
    content = ContentKey(key.kid, bytes.fromhex(key.key), bytes.fromhex(key.iv))
    return KeySpan(key.first_segment, key.first_segment + key.segments, content)


async def read_bounded(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The whole body, refused past `limit` bytes. Not `content.read(limit + 1)`: that returns what
    has arrived so far (a 600 kB segment was mirrored as its first 100 kB, issue 56)."""
    body = bytearray()
    async for chunk in resp.content.iter_chunked(256 * 1024):
        body += chunk
        if len(body) > limit:
            raise ValueError(f"{what}: larger than {limit} bytes")
    return bytes(body)


def listed_files(
    playlists: list[HandoverPlaylist], root: Path, dash: HandoverDash | None = None
) -> Iterator[tuple[tuple[str, str, str], Path]]:
    """((variant, rendition, name), where the successor keeps it) of every file the playlists list
    (and the DASH Periods': ("dash", key, name), kept under root/DASH_MIRROR/<key>/dash/)."""
    for period in dash.periods if dash is not None else ():
        for file in period.files:
            yield ("dash", period.key, file), root / DASH_MIRROR / period.key / "dash" / file
    seen: set[Path] = set()
    for p in playlists:
        for s in p.segments:
            for name in (s.uri, s.init_uri):
                if name is None:
                    continue
                target = root / p.variant / p.rendition / name
                if target not in seen:
                    seen.add(target)
                    yield (p.variant, p.rendition, name), target


def add_handover_routes(app: web.Application, handover: Handover) -> None:
    """The internal face's handover routes (its credential guard checks every request)."""

    async def state(_: web.Request) -> web.Response:
        body = handover.state().to_json().encode()
        return web.Response(body=body, headers={"Content-Type": "application/json", "Cache-Control": "no-store"})

    async def files(request: web.Request) -> web.StreamResponse:
        variant, name = request.match_info["variant"], request.match_info["name"]
        rendition = request.match_info["rendition"]
        rendition = "" if rendition == "-" else rendition
        if variant not in ("cmaf", "ts", "dash") or name.startswith(".") or "/" in name or rendition.startswith("."):
            raise web.HTTPNotFound()
        found = handover.file(variant, rendition, name)
        if isinstance(found, bytes):
            return web.Response(body=found, content_type="application/octet-stream")
        if found is None or not found.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(found, headers={"Content-Type": "application/octet-stream"})

    async def follow(request: web.Request) -> web.Response:
        try:
            asked = HandoverFollow.model_validate_json(await request.content.read(64 * 1024))
        except ValidationError as e:
            return web.Response(status=400, text=f"not a HandoverFollow: {e.error_count()} problems")
        status = handover.follow(asked)
        text = "following" if status == 200 else "following another predecessor"
        return web.Response(status=status, text=text)

    async def release(_: web.Request) -> web.Response:
        await handover.start_release()
        return web.Response(status=202, text=handover.release or "")

    app.router.add_get(HANDOVER_STATE_PATH, state)
    app.router.add_get(HANDOVER_FILES_PATH + "/{variant}/{rendition}/{name}", files)
    app.router.add_post(HANDOVER_FOLLOW_PATH, follow)
    app.router.add_post(HANDOVER_RELEASE_PATH, release)
